import StateCore

/// Keeps state in memory: per column, a dictionary from primary key (`keyGroup ‖ key ‖ namespace`) to the
/// entries under it (one entry with an empty secondary key, or a map's entries by map key).
final class HeapStateStore: StateStore {
    private var columns: [[[UInt8]: [[UInt8]: [UInt8]]]] = []
    private var metadata: [String: StateMetadata] = [:]
    private var closed = false

    func persistedMetadata(named name: String) -> StateMetadata? { self.metadata[name] }

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
        if self.columns[column].removeValue(forKey: prefix) != nil { return }
        for primary in self.columns[column].keys where primary.starts(with: prefix) {
            self.columns[column][primary] = nil
        }
    }

    func close() throws(StateError) {
        self.closed = true
        self.columns = []
    }
}
