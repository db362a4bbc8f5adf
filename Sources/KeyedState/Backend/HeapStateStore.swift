import StateCore

/// Keeps state in memory: per column, a dictionary from primary key (`keyGroup ‖ key ‖ namespace`) to the
/// entries under it (one entry with an empty secondary key, or a map's entries by map key).
///
/// A map entry restored from raw bytes (a savepoint written by RocksDB, which does not know where the map key
/// starts) waits in `unsplit` until the state is registered and `resolvePrimaryLengths` splits it.
final class HeapStateStore: StateStore {
    private var columns: [[[UInt8]: [[UInt8]: [UInt8]]]] = []
    private var unsplit: [Int: [(key: [UInt8], value: [UInt8])]] = [:]
    private var metadata: [String: StateMetadata] = [:]
    private var closed = false
    var columnsForImage: [[[UInt8]: [[UInt8]: [UInt8]]]] { self.columns }
    var unsplitForImage: [Int: [(key: [UInt8], value: [UInt8])]] { self.unsplit }

    func persistedMetadata(named name: String) -> StateMetadata? { self.metadata[name] }

    var engine: StoreEngine { .heap(self) }

    func openColumn(_ metadata: StateMetadata) throws(StateError) -> Int {
        try self.checkOpen()
        self.metadata[metadata.name] = metadata
        self.columns.append([:])
        return self.columns.count - 1
    }

    private func checkOpen() throws(StateError) {
        if self.closed { throw StateError(code: .closed, message: "the heap state backend was used after close()") }
    }

    private static func split(_ key: [UInt8], _ primaryLength: Int) -> (primary: [UInt8], secondary: [UInt8]) {
        if primaryLength == key.count { return (key, []) }
        return (Array(key[..<primaryLength]), Array(key[primaryLength...]))
    }

    func put(_ column: Int, key: [UInt8], primaryLength: Int, value: [UInt8]) throws(StateError) {
        try self.checkOpen()
        if primaryLength < 0 {
            self.unsplit[column, default: []].append((key, value))
            return
        }
        let (primary, secondary) = Self.split(key, primaryLength)
        self.columns[column][primary, default: [:]][secondary] = value
    }

    func get<R>(
        _ column: Int, key: [UInt8], primaryLength: Int, _ body: (inout ByteReader?) throws(StateError) -> R
    ) throws(StateError) -> R {
        try self.checkOpen()
        let (primary, secondary) = Self.split(key, primaryLength)
        guard let value = self.columns[column][primary]?[secondary] else {
            var none: ByteReader? = nil
            return try body(&none)
        }
        return try ByteReader.withReader(over: value) { reader throws(StateError) in
            var some: ByteReader? = reader
            return try body(&some)
        }
    }

    func append(_ column: Int, key: [UInt8], operand: [UInt8]) throws(StateError) {
        try self.checkOpen()
        self.columns[column][key, default: [:]][[], default: []].append(contentsOf: operand)
    }

    func delete(_ column: Int, key: [UInt8], primaryLength: Int) throws(StateError) {
        try self.checkOpen()
        let (primary, secondary) = Self.split(key, primaryLength)
        self.columns[column][primary]?[secondary] = nil
        if self.columns[column][primary]?.isEmpty == true { self.columns[column][primary] = nil }
    }

    func scan(
        _ column: Int, prefix: [UInt8], _ body: (ByteReader, ByteReader) throws(StateError) -> Bool
    ) throws(StateError) {
        try self.checkOpen()
        for entry in self.unsplit[column] ?? [] where entry.key.starts(with: prefix) {
            let proceed = try ByteReader.withReader(over: entry.key) { key throws(StateError) in
                try ByteReader.withReader(over: entry.value) { value throws(StateError) in try body(key, value) }
            }
            if !proceed { return }
        }
        let primaries: [[UInt8]]
        if self.columns[column][prefix] != nil {
            primaries = [prefix]
        } else {
            primaries = self.columns[column].keys.filter { $0.starts(with: prefix) }.sorted { $0.lexicographicallyPrecedes($1) }
        }
        for primary in primaries {
            guard let entries = self.columns[column][primary] else { continue }
            for secondary in entries.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                guard let value = entries[secondary] else { continue }
                let proceed = try ByteReader.withReader(over: primary + secondary) { key throws(StateError) in
                    try ByteReader.withReader(over: value) { value throws(StateError) in try body(key, value) }
                }
                if !proceed { return }
            }
        }
    }

    func deletePrefix(_ column: Int, prefix: [UInt8]) throws(StateError) {
        try self.checkOpen()
        self.unsplit[column]?.removeAll { $0.key.starts(with: prefix) }
        if self.columns[column].removeValue(forKey: prefix) != nil { return }
        for primary in self.columns[column].keys where primary.starts(with: prefix) {
            self.columns[column][primary] = nil
        }
    }

    func close(discarding: Bool) throws(StateError) {
        self.closed = true
        self.columns = []
        self.unsplit = [:]
    }

    func resolvePrimaryLengths(_ column: Int, _ resolver: ([UInt8]) -> Int?) throws(StateError) {
        guard let entries = self.unsplit.removeValue(forKey: column) else { return }
        for entry in entries {
            guard let primaryLength = resolver(entry.key), primaryLength <= entry.key.count else {
                throw StateError(
                    code: .corruptValue,
                    message: "a restored map entry of column \(column) does not start with a key and namespace the "
                        + "registered serializers read (\(entry.key.count) bytes); the savepoint does not match the "
                        + "state's serializers")
            }
            try self.put(column, key: entry.key, primaryLength: primaryLength, value: entry.value)
        }
    }
}

/// A point-in-time copy of a heap store's entries (copy-on-write: taking it copies nothing), to write out on
/// another thread while the owner goes on changing the store.
package struct HeapStateImage: Sendable {
    let columns: [[[UInt8]: [[UInt8]: [UInt8]]]]
    let unsplit: [Int: [(key: [UInt8], value: [UInt8])]]

    /// The number of columns.
    package var columnCount: Int { self.columns.count }

    /// Visits every entry of `column`: full key, primary length (`nil` when unknown) and value.
    package func forEach<E: Error>(
        column: Int, _ body: (_ key: [UInt8], _ primaryLength: Int?, _ value: [UInt8]) throws(E) -> Void
    ) throws(E) {
        for entry in self.unsplit[column] ?? [] { try body(entry.key, nil, entry.value) }
        guard column < self.columns.count else { return }
        for (primary, entries) in self.columns[column] {
            for (secondary, value) in entries { try body(primary + secondary, primary.count, value) }
        }
    }
}

extension HeapStateStore {
    /// The current entries, without copying them.
    func image() -> HeapStateImage { HeapStateImage(columns: self.columnsForImage, unsplit: self.unsplitForImage) }
}
