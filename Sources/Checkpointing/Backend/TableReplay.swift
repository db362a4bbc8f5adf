import Dispatch
import KeyedState
import RocksKit
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Replays a long changelog into a RocksDB backend through table files: the records of a chunk of the changelog
/// are sorted by key, every key's records are folded into the one entry that leaves the same state, and each
/// state's entries are written as one sorted SST file that RocksDB ingests in a single step. No memtable, no sort
/// inside RocksDB, no flush, and each key is written once per chunk however often it changed.
///
/// A chunk keeps the section bytes its records point into (no copy per record, only the keys are gathered for
/// the sort). `write` empties it; chunks are ingested in changelog order, each newer than everything before it.
///
/// Folding a key's records (put, delete, append) and the map `clear`s (prefix deletes) covering it, in SQN order:
/// a put sets the value, a delete removes it, an append concatenates to a known value (or, when the chunk has no
/// earlier put/delete/clear of the key, collects a merge operand for RocksDB's concatenation operator), and a
/// clear removes it. The file gets a put, a delete, a merge, or nothing (when a clear of the chunk removes the key
/// last: the clear's range deletion in the same file does it, and covers only entries older than the file).
///
/// Invariants: 1. Every kept record points into a kept buffer. 2. After `write`, the backend's state equals the
/// state before it with the chunk's records applied in SQN order.
struct TableReplay {
    /// Table replays running in this process (backends restoring at once share the chunk budget).
    static let running = Atomic<Int>(0)

    /// Section bytes a chunk holds before it is written when `running` replays share `budget` bytes (at least
    /// 16 MiB: smaller chunks would collapse few repeated keys).
    static func chunkBytes(budget: Int) -> Int {
        max(budget / max(Self.running.load(ordering: .relaxed), 1), 16 << 20)
    }

    /// One record of the chunk (48 bytes): sort fields (the key's first 16 bytes as two big-endian words, its
    /// state), then where its key (in `keys`) and value (in `buffers`) are.
    fileprivate struct Entry {
        var high: UInt64
        var low: UInt64
        var column: UInt32
        var keyOffset: UInt32
        var keyCount: UInt32
        var order: UInt32
        var buffer: UInt32
        var valueOffset: UInt32
        var valueCount: UInt32
        var kind: StateChangeKind
    }

    /// A map `clear` of the chunk: every key of `column` starting with `prefix` is deleted at `order`.
    fileprivate struct Clear {
        var column: Int
        var prefix: [UInt8]
        var orders: [UInt32]
    }

    /// What a key's records leave, folded in order.
    private enum Fold {
        /// Only appends so far, on top of whatever the database holds: one merge operand.
        case operands([UInt8])
        /// The value of one put, still in its section buffer.
        case put(buffer: UInt32, offset: UInt32, count: UInt32)
        /// A value built here (a put or nothing, followed by appends).
        case value([UInt8])
        /// Deleted by a point delete.
        case deleted
        /// Deleted by a clear of this chunk (its range deletion covers it).
        case cleared
    }

    private var buffers: [[UInt8]] = []
    private var keys: [UInt8] = []
    private var entries: [Entry] = []
    private var clears: [RawStateKey: Int] = [:]
    private var clearList: [Clear] = []
    private var nextOrder: UInt32 = 0
    /// Section bytes kept by the chunk.
    private(set) var bufferedBytes = 0
    /// Table files opened so far (names stay unique across chunks).
    private var filesWritten = 0
    /// Table files ingested so far.
    private(set) var filesIngested = 0
    /// The chunk being written in the background while the next one is gathered (at most one).
    private var inFlight: Pending?

    /// Keeps a section's bytes for the records `add` takes from it; returns its buffer number.
    mutating func keep(_ bytes: [UInt8]) -> Int {
        self.buffers.append(bytes)
        self.bufferedBytes += bytes.count
        return self.buffers.count - 1
    }

    /// Takes one record (in SQN order) of `bytes`, kept as buffer `buffer`. A prefix delete must have a prefix
    /// successor (`[UInt8].prefixSuccessor`); the caller applies the others directly after writing the chunk.
    mutating func add(_ span: ChangelogSegment.RecordSpan, of bytes: [UInt8], buffer: Int) {
        let order = self.nextOrder
        self.nextOrder += 1
        if span.kind == .deletePrefix {
            let prefix = Array(bytes[span.keyOffset..<span.keyOffset + span.keyCount])
            let slot = RawStateKey(column: span.column, key: prefix)
            if let at = self.clears[slot] {
                self.clearList[at].orders.append(order)
            } else {
                self.clears[slot] = self.clearList.count
                self.clearList.append(Clear(column: span.column, prefix: prefix, orders: [order]))
            }
            return
        }
        let keyOffset = self.keys.count
        let (high, low) = bytes.withUnsafeBytes { raw in
            let key = UnsafeRawBufferPointer(rebasing: raw[span.keyOffset..<span.keyOffset + span.keyCount])
            self.keys.append(contentsOf: key)
            return Self.sortWords(key)
        }
        self.entries.append(Entry(
            high: high, low: low, column: UInt32(span.column), keyOffset: UInt32(keyOffset),
            keyCount: UInt32(span.keyCount), order: order, buffer: UInt32(buffer), valueOffset: UInt32(span.valueOffset),
            valueCount: UInt32(span.valueCount), kind: span.kind))
    }

    /// The key's first 16 bytes as two big-endian words, zero-padded: comparing the words orders keys as
    /// RocksDB's byte-wise comparator does, up to ties that the full bytes break.
    private static func sortWords(_ key: UnsafeRawBufferPointer) -> (UInt64, UInt64) {
        var words: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &words) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(rebasing: key[0..<min(16, key.count)]))
        }
        return (UInt64(bigEndian: words.0), UInt64(bigEndian: words.1))
    }

    /// Writes the chunk into `state` (after the one still being written): per state, sorted table files in
    /// `directory` (on the database's file system), ingested in one step each; then empties the chunk. The chunk is
    /// split by key group into two halves that are sorted, folded and written on two threads at once (their files
    /// never overlap).
    /// - Returns: The entries written (puts, deletes, merges and range deletions).
    /// - Throws: `CheckpointError` when a file cannot be written or RocksDB refuses it.
    mutating func write<Key>(into state: KeyedStateBackend<Key>, directory: String) throws(CheckpointError) -> Int {
        try self.flush(into: state, directory: directory) + self.drain(into: state)
    }

    /// Writes the chunk like `write`, but returns once it is started: a lone replay gathers the next chunk while
    /// this one is written (with other replays running the cores are busy anyway, and a second chunk would only
    /// take memory, so it waits). The chunk before is finished first.
    /// - Returns: The entries written by the chunks finished meanwhile.
    /// - Throws: `CheckpointError` when a file cannot be written or RocksDB refuses it.
    mutating func flush<Key>(into state: KeyedStateBackend<Key>, directory: String) throws(CheckpointError) -> Int {
        var written = try self.drain(into: state)
        self.inFlight = try self.start(into: state, directory: directory)
        if Self.running.load(ordering: .relaxed) > 1 { written += try self.drain(into: state) }
        return written
    }

    /// Waits for the chunk being written, if any, and ingests its files.
    /// - Returns: The entries it wrote.
    /// - Throws: `CheckpointError` when a file could not be written or RocksDB refuses it.
    mutating func drain<Key>(into state: KeyedStateBackend<Key>) throws(CheckpointError) -> Int {
        guard let pending = self.inFlight else { return 0 }
        self.inFlight = nil
        return try self.finish(pending, into: state)
    }

    /// Blocks until no chunk is being written (before the table directory goes away after an error).
    func waitForWriting() { self.inFlight?.wait() }

    /// A chunk being sorted and written in the background; `finish` waits for it and ingests its files.
    private final class Pending: Sendable {
        fileprivate let halves: [Half]
        fileprivate let done = DispatchGroup()

        fileprivate init(halves: [Half]) { self.halves = halves }

        /// Blocks until both halves are written.
        func wait() { self.done.wait() }
    }

    /// Starts writing the chunk on background threads (the table files are opened here) and empties it, so the
    /// next chunk can be gathered meanwhile; `nil` when the chunk is empty.
    /// - Throws: `CheckpointError` when a table file cannot be created.
    private mutating func start<Key>(into state: KeyedStateBackend<Key>, directory: String) throws(CheckpointError) -> Pending? {
        defer { self.reset() }
        guard !self.entries.isEmpty || !self.clearList.isEmpty else { return nil }
        let halves = self.split()
        var columns = Set(self.clearList.map(\.column))
        for entry in self.entries { columns.insert(Int(entry.column)) }
        self.entries = []
        for half in halves {
            for column in columns.sorted() {
                half.writers.append((column, try self.openWriter(state, column: column, directory: directory)))
            }
        }
        let pending = Pending(halves: halves)
        DispatchQueue.global().async(group: pending.done) {
            DispatchQueue.concurrentPerform(iterations: halves.count) { halves[$0].write() }
        }
        return pending
    }

    /// Waits for a started chunk and ingests its files (chunks must be finished in the order they started).
    /// - Returns: The entries written.
    /// - Throws: `CheckpointError` when a file could not be written or RocksDB refuses it.
    private mutating func finish<Key>(_ pending: Pending, into state: KeyedStateBackend<Key>) throws(CheckpointError) -> Int {
        pending.wait()
        var written = 0
        for half in pending.halves {
            if let failure = half.failure { throw failure }
            written += half.written
            for (column, path) in half.files {
                do { try state.ingest(column: column, files: [path]) } catch {
                    throw CheckpointError.state(error, "ingesting \(path)")
                }
                self.filesIngested += 1
            }
        }
        return written
    }

    /// Splits the chunk at the key group that halves its entries (a clear goes with its prefix's key group); one
    /// half when a clear's prefix is shorter than a key group (it could span both). The halves share the chunk's
    /// entries and hold the positions of theirs, in SQN order.
    private func split() -> [Half] {
        let everything = [UInt32](0..<UInt32(self.entries.count))
        let whole = {
            Half(entries: self.entries, members: everything, clears: self.clearList, keys: self.keys, buffers: self.buffers)
        }
        guard self.entries.count >= 4_096, self.clearList.allSatisfy({ $0.prefix.count >= 2 }) else { return [whole()] }
        var histogram = [Int](repeating: 0, count: 1 << 16)
        for entry in self.entries { histogram[Int(entry.high >> 48)] += 1 }
        var pivot = 0
        var below = 0
        while pivot < histogram.count && below + histogram[pivot] <= self.entries.count / 2 {
            below += histogram[pivot]
            pivot += 1
        }
        guard below > 0 else { return [whole()] }
        var low: [UInt32] = [], high: [UInt32] = []
        low.reserveCapacity(below)
        high.reserveCapacity(self.entries.count - below)
        for index in self.entries.indices {
            if Int(self.entries[index].high >> 48) < pivot { low.append(UInt32(index)) } else { high.append(UInt32(index)) }
        }
        let isLow = { (clear: Clear) in Int(clear.prefix[0]) << 8 | Int(clear.prefix[1]) < pivot }
        return [
            Half(entries: self.entries, members: low, clears: self.clearList.filter(isLow), keys: self.keys,
                 buffers: self.buffers),
            Half(entries: self.entries, members: high, clears: self.clearList.filter { !isLow($0) }, keys: self.keys,
                 buffers: self.buffers),
        ]
    }

    private mutating func openWriter<Key>(_ state: KeyedStateBackend<Key>, column: Int, directory: String)
        throws(CheckpointError) -> RocksTableWriter
    {
        self.filesWritten += 1
        let path = "\(directory)/replay-\(self.filesWritten)-\(column).sst"
        do { return try state.tableWriter(column: column, path: path) } catch {
            throw CheckpointError.state(error, "creating \(path)")
        }
    }

    /// One key-group range of a chunk, sorted, folded and written on its own thread.
    // @unchecked: `write()` runs on one thread at a time per half; the arrays it reads are immutable copies shared
    // with the other half, and the writers are its own. The caller reads the results after both halves finished.
    fileprivate final class Half: @unchecked Sendable {
        /// The chunk's entries (shared by both halves), and the positions of this half's, in SQN order.
        let entries: [Entry]
        let members: [UInt32]
        let clears: [Clear]
        let keys: [UInt8]
        let buffers: [[UInt8]]
        /// One writer per state (column order), opened by the caller.
        var writers: [(column: Int, writer: RocksTableWriter)] = []
        /// Finished files to ingest.
        var files: [(column: Int, path: String)] = []
        var written = 0
        var failure: CheckpointError?

        init(entries: [Entry], members: [UInt32], clears: [Clear], keys: [UInt8], buffers: [[UInt8]]) {
            self.entries = entries
            self.members = members
            self.clears = clears.sorted {
                RawStateKey(column: $0.column, key: $0.prefix) < RawStateKey(column: $1.column, key: $1.prefix)
            }
            self.keys = keys
            self.buffers = buffers
        }

        func write() {
            let entries = TableReplay.sorted(self.members, of: self.entries, keys: self.keys)
            let keys = self.keys
            let clears = self.clears
            var index = 0
            var clearStart = 0
            for (column, writer) in self.writers {
                var clearEnd = clearStart
                while clearEnd < clears.count && clears[clearEnd].column == column { clearEnd += 1 }
                var clearIndex = clearStart
                do throws(RocksError) {
                    while index < entries.count && Int(entries[index].column) == column {
                        let first = entries[index]
                        var end = index + 1
                        while end < entries.count && TableReplay.sameKey(entries[end], first, keys) { end += 1 }
                        // The clear covering this key, if any (clear prefixes of a column never overlap: primary
                        // keys are prefix-free), found by walking the sorted clears along the sorted keys.
                        while clearIndex < clearEnd && TableReplay.clear(clears[clearIndex], isBefore: first, keys) {
                            clearIndex += 1
                        }
                        let covering = clearIndex < clearEnd && TableReplay.clear(clears[clearIndex], covers: first, keys)
                            ? clears[clearIndex].orders : []
                        try TableReplay.emit(
                            TableReplay.fold(entries[index..<end], clearedAt: covering, buffers: self.buffers),
                            key: first, keys: keys, buffers: self.buffers, into: writer)
                        index = end
                    }
                    for clear in clears[clearStart..<clearEnd] {
                        if let end = clear.prefix.prefixSuccessor { try writer.deleteRange(start: clear.prefix, end: end) }
                    }
                    if writer.entries > 0 {
                        try writer.finish()
                        self.written += writer.entries
                        self.files.append((column, writer.path))
                    } else {
                        writer.discard()
                    }
                } catch {
                    self.failure = CheckpointError.state(.storage(error, state: nil), "writing \(writer.path)")
                    return
                }
                clearStart = clearEnd
            }
        }
    }

    /// Folds one key's records (in SQN order) and the orders of the clears covering it.
    private static func fold(_ records: ArraySlice<Entry>, clearedAt clears: [UInt32], buffers: [[UInt8]]) -> Fold {
        var fold: Fold?
        var nextClear = 0
        for record in records {
            while nextClear < clears.count && clears[nextClear] < record.order {
                fold = .cleared
                nextClear += 1
            }
            switch record.kind {
            case .put: fold = .put(buffer: record.buffer, offset: record.valueOffset, count: record.valueCount)
            case .delete: fold = .deleted
            case .append:
                let operand = buffers[Int(record.buffer)][Int(record.valueOffset)..<Int(record.valueOffset + record.valueCount)]
                switch fold {
                case nil: fold = .operands(Array(operand))
                case .operands(var bytes):
                    bytes += operand
                    fold = .operands(bytes)
                case .put(let buffer, let offset, let count):
                    fold = .value(Array(buffers[Int(buffer)][Int(offset)..<Int(offset + count)]) + operand)
                case .value(var bytes):
                    bytes += operand
                    fold = .value(bytes)
                case .deleted, .cleared: fold = .value(Array(operand))
                }
            case .deletePrefix: break
            }
        }
        if nextClear < clears.count { fold = .cleared }
        return fold ?? .cleared
    }

    private static func emit(
        _ fold: Fold, key: Entry, keys: [UInt8], buffers: [[UInt8]], into writer: RocksTableWriter
    ) throws(RocksError) {
        let range = Int(key.keyOffset)..<Int(key.keyOffset + key.keyCount)
        try withBytes(keys) { raw throws(RocksError) in
            let keyBytes = UnsafeRawBufferPointer(rebasing: raw[range])
            switch fold {
            case .cleared: break
            case .deleted: try writer.delete(key: keyBytes)
            case .operands(let bytes):
                try withBytes(bytes) { value throws(RocksError) in try writer.merge(key: keyBytes, operand: value) }
            case .value(let bytes):
                try withBytes(bytes) { value throws(RocksError) in try writer.put(key: keyBytes, value: value) }
            case .put(let buffer, let offset, let count):
                try withBytes(buffers[Int(buffer)]) { source throws(RocksError) in
                    try writer.put(
                        key: keyBytes, value: UnsafeRawBufferPointer(rebasing: source[Int(offset)..<Int(offset + count)]))
                }
            }
        }
    }

    /// The entries at `members`, sorted by column, key (byte-wise) and SQN order: counting passes put them in
    /// (column, key group) buckets, then each bucket (small, cache-resident) is sorted as 24-byte keys — the key's
    /// first 16 bytes, its length and its position — and the entries are gathered once in that order. Sorting the entries
    /// themselves would move 56 bytes per element on every merge pass.
    private static func sorted(_ members: [UInt32], of entries: [Entry], keys: [UInt8]) -> [Entry] {
        struct SortKey {
            var high: UInt64
            var low: UInt64
            /// Key length (upper 32 bits), then position in `entries` (lower 32: the SQN order).
            var rest: UInt64
        }
        let count = members.count
        // LSD: by key group, then (stable) by column.
        var groupStarts = [Int](repeating: 0, count: (1 << 16) + 1)
        for index in members { groupStarts[Int(entries[Int(index)].high >> 48) + 1] += 1 }
        for group in 0..<(1 << 16) { groupStarts[group + 1] += groupStarts[group] }
        func sortKey(_ index: Int) -> SortKey {
            let entry = entries[index]
            return SortKey(high: entry.high, low: entry.low, rest: UInt64(entry.keyCount) << 32 | UInt64(index))
        }
        var sortKeys = [SortKey](repeating: SortKey(high: 0, low: 0, rest: 0), count: count)
        let columns = Int(members.lazy.map { entries[Int($0)].column }.max() ?? 0) + 1
        if columns == 1 {
            for index in members {
                let group = Int(entries[Int(index)].high >> 48)
                sortKeys[groupStarts[group]] = sortKey(Int(index))
                groupStarts[group] += 1
            }
        } else {
            var byGroup = [UInt32](repeating: 0, count: count)
            for index in members {
                let group = Int(entries[Int(index)].high >> 48)
                byGroup[groupStarts[group]] = index
                groupStarts[group] += 1
            }
            var columnStarts = [Int](repeating: 0, count: columns + 1)
            for index in members { columnStarts[Int(entries[Int(index)].column) + 1] += 1 }
            for column in 0..<columns { columnStarts[column + 1] += columnStarts[column] }
            for index in byGroup {
                let column = Int(entries[Int(index)].column)
                sortKeys[columnStarts[column]] = sortKey(Int(index))
                columnStarts[column] += 1
            }
        }
        let unsorted = entries
        keys.withUnsafeBytes { raw in
            sortKeys.withUnsafeMutableBufferPointer { buffer in
                var start = 0
                while start < count {
                    let first = unsorted[Int(buffer[start].rest & 0xFFFF_FFFF)]
                    var end = start + 1
                    while end < count && buffer[end].high >> 48 == first.high >> 48
                        && unsorted[Int(buffer[end].rest & 0xFFFF_FFFF)].column == first.column
                    {
                        end += 1
                    }
                    var bucket = UnsafeMutableBufferPointer(rebasing: buffer[start..<end])
                    bucket.sort { a, b in
                        if a.high != b.high { return a.high < b.high }
                        if a.low != b.low { return a.low < b.low }
                        if a.rest >> 32 > 16 || b.rest >> 32 > 16 {
                            let order = Self.compareTails(
                                unsorted[Int(a.rest & 0xFFFF_FFFF)], unsorted[Int(b.rest & 0xFFFF_FFFF)], raw)
                            if order != 0 { return order < 0 }
                        }
                        return a.rest < b.rest
                    }
                    start = end
                }
            }
        }
        return sortKeys.map { unsorted[Int($0.rest & 0xFFFF_FFFF)] }
    }

    /// memcmp of the bytes after the first 16 of two keys (0 when equal up to the shorter's end).
    private static func compareTails(_ a: Entry, _ b: Entry, _ raw: UnsafeRawBufferPointer) -> Int32 {
        let common = Int(min(a.keyCount, b.keyCount)) - 16
        guard common > 0 else { return 0 }
        return memcmp(
            raw.baseAddress! + Int(a.keyOffset) + 16, raw.baseAddress! + Int(b.keyOffset) + 16, common)
    }

    private static func sameKey(_ a: Entry, _ b: Entry, _ keys: [UInt8]) -> Bool {
        guard a.column == b.column, a.high == b.high, a.low == b.low, a.keyCount == b.keyCount else { return false }
        guard a.keyCount > 16 else { return true }
        return keys.withUnsafeBytes { Self.compareTails(a, b, $0) == 0 }
    }

    /// Whether every key the clear covers sorts before `entry`'s key (so it covers no later key either).
    private static func clear(_ clear: Clear, isBefore entry: Entry, _ keys: [UInt8]) -> Bool {
        if clear.column != Int(entry.column) { return clear.column < Int(entry.column) }
        if Self.clear(clear, covers: entry, keys) { return false }
        let key = keys[Int(entry.keyOffset)..<Int(entry.keyOffset + entry.keyCount)]
        return clear.prefix.lexicographicallyPrecedes(key)
    }

    /// Whether `entry`'s key starts with the clear's prefix (in the same column).
    private static func clear(_ clear: Clear, covers entry: Entry, _ keys: [UInt8]) -> Bool {
        guard clear.column == Int(entry.column), clear.prefix.count <= Int(entry.keyCount) else { return false }
        let start = Int(entry.keyOffset)
        return keys[start..<start + clear.prefix.count].elementsEqual(clear.prefix)
    }

    private mutating func reset() {
        self.buffers.removeAll()
        self.keys.removeAll(keepingCapacity: true)
        self.entries.removeAll(keepingCapacity: true)
        self.clears.removeAll()
        self.clearList.removeAll()
        self.bufferedBytes = 0
        self.nextOrder = 0  // orders are compared within a chunk only
    }
}
