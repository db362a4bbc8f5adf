import Dispatch
import KeyedState
import RocksKit
import Synchronization

/// Replays a long changelog into a RocksDB backend through table files, newest chunk first: the records of a chunk of
/// the changelog are sorted by key, every key's records are folded into the one entry that leaves the same state,
/// and each state's entries are written as one sorted SST file. A key that a newer chunk settles (its last change
/// there is a put, a delete or a clear: older changes no longer matter, `SettledKeys`) is not written for an older
/// chunk at all, so each key is written about once over the whole changelog, not once per chunk. Once every chunk
/// is written, `finish` ingests the files oldest chunk first, each in a single step, each newer than everything
/// before it. No memtable, no sort inside RocksDB, no flush, no reopen.
///
/// Sections are added newest first (`beginSection`), the records of each in SQN order. A chunk copies each
/// record's key and value into two arenas as it arrives (sequential writes of bytes just decoded, so the section
/// buffers are freed at once); writing then reads them in key order, prefetching ahead. `flush` starts writing
/// the chunk and empties it.
///
/// Folding a key's records (put, delete, append) and the map `clear`s (prefix deletes) covering it, in SQN order:
/// a put sets the value, a delete removes it, an append concatenates to a known value (or, when the chunk has no
/// earlier put/delete/clear of the key, collects a merge operand for RocksDB's concatenation operator), and a
/// clear removes it. The file gets a put, a delete, a merge, or nothing (when a clear of the chunk removes the key
/// last: the clear's range deletion in the same file does it, and covers only entries older than the file).
///
/// Invariants: 1. Every entry's key and value lie in the chunk's arenas. 2. After `finish`, the backend's state
/// equals the state before it with every added record applied in SQN order. 3. Nothing is ingested before
/// `finish`: a replay given up (`abandon`) leaves the backend as it was.
///
/// How it is fast. Sections are read into one reused buffer and decoded in place (`ChangelogSegment.spans`). A
/// 64 MiB chunk budget per process (`Limits.tableReplayChunkBudget`) is shared by the replays running at
/// once; a written chunk's arenas are kept for the next one, reserved up front and advised onto transparent huge
/// pages (`RocksKit.HugePages`), so filling them takes a fault per 2 MiB rather than per 4 KiB. Each half of a
/// chunk is radix-sorted on its own thread (`sorted(_:)`), folded, and written as one uncompressed SST per state
/// (`RocksTableWriter`, RocksDB's `SstFileWriter`), then ingested with `RocksDatabase.ingest`. Settled keys
/// matter: with 1 M keys the replay wrote 0.76 M entries for 1.42 M records, where chunks written in SQN order
/// wrote 1.2 M. Merge operands settle nothing, so list appends keep every chunk's operand. The caller plans which
/// SQNs each section contributes from the section handles before anything is read (a gap or a short changelog
/// fails before any work), and pauses automatic compactions for the replay (`RestoreReport.tableFiles` counts the
/// files ingested).
struct TableReplay {
    /// Table replays running in this process (backends restoring at once share the chunk budget).
    static let running = Atomic<Int>(0)

    /// Key and value bytes a chunk holds before it is written when `running` replays share `budget` bytes (at
    /// least 16 MiB: smaller chunks would collapse few repeated keys).
    static func chunkBytes(budget: Int) -> Int {
        max(budget / max(Self.running.load(ordering: .relaxed), 1), 16 << 20)
    }

    /// Whether the chunk should be written now: it holds its share of `budget`, or — for a lone replay — the
    /// chunk before it is written already and it holds at least `earlyBytes`. Handing the writing threads what
    /// there is whenever they would idle keeps both cores busy from the start (the first chunk would otherwise be
    /// gathered on one core alone); while they are busy, chunks grow to the full share and collapse more repeats.
    func shouldWrite(budget: Int) -> Bool {
        let bytes = self.bufferedBytes
        if bytes >= Self.chunkBytes(budget: budget) { return true }
        guard bytes >= Self.earlyBytes, Self.running.load(ordering: .relaxed) == 1 else { return false }
        return self.inFlight?.isWritten ?? true
    }

    /// The least a chunk holds when it is written early (see `shouldWrite`).
    static var earlyBytes: Int { 8 << 20 }

    /// One record of the chunk (48 bytes): sort fields (the key's first 16 bytes as two big-endian words, its
    /// state), its SQN, then where its key (in `keys`) and value (in `values`) are.
    fileprivate struct Entry {
        var high: UInt64
        var low: UInt64
        var order: UInt64
        var column: UInt32
        var keyOffset: UInt32
        var keyCount: UInt32
        var valueOffset: UInt32
        var valueCount: UInt32
        var kind: StateChangeKind
    }

    /// A map `clear` of the chunk: every key of `column` starting with `prefix` is deleted at each of `orders`
    /// (SQNs, ascending once the chunk is started).
    fileprivate struct Clear {
        var column: Int
        var prefix: [UInt8]
        var orders: [UInt64]
    }

    /// What a key's records leave, folded in order.
    private enum Fold {
        /// Only appends so far, on top of whatever the database holds: one merge operand.
        case operands([UInt8])
        /// The value of one put, in the chunk's value arena.
        case put(offset: UInt32, count: UInt32)
        /// A value built here (a put or nothing, followed by appends).
        case value([UInt8])
        /// Deleted by a point delete.
        case deleted
        /// Deleted by a clear of this chunk (its range deletion covers it).
        case cleared

        /// Whether older changes of the key no longer matter (everything but merge operands).
        var settles: Bool {
            if case .operands = self { return false }
            return true
        }
    }

    private var keys: [UInt8] = []
    private var values: [UInt8] = []
    private var entries: [Entry] = []
    /// The states the chunk's entries belong to (`true` at their column).
    private var columns: [Bool] = []
    /// Arenas of a written chunk, emptied with their storage kept: the next chunk fills memory that is already
    /// mapped instead of faulting in fresh pages. A lone replay thus holds two chunks' arenas (one gathered, one
    /// written); replays running at once hold one each.
    private var spare: Arenas?
    /// Value bytes the arena reserves when it has no storage yet (a chunk's size): no copies while it grows.
    private var reservation = 0
    private var clears: [RawStateKey: Int] = [:]
    private var clearList: [Clear] = []
    /// Where each section's entries start, in the order the sections were added (newest first).
    private var sectionStarts: [Int] = []
    /// The keys settled by the chunks written so far (all newer than the one being gathered).
    private var settled = SettledKeys()
    /// The files of each chunk written so far, newest chunk first; `finish` ingests them oldest first.
    private var chunkFiles: [[(column: Int, path: String)]] = []
    /// Key and value bytes held by the chunk.
    var bufferedBytes: Int { self.keys.count + self.values.count }
    /// Whether a record was added that only an in-order replay can apply (a clear without a range deletion).
    private(set) var needsInOrderReplay = false
    /// Table files opened so far (names stay unique across chunks).
    private var filesWritten = 0
    /// Table files ingested so far.
    private(set) var filesIngested = 0
    /// The chunk being written in the background while the next one is gathered (at most one).
    private var inFlight: Pending?

    /// Reserves storage for chunks of `bytes` key and value bytes, so that gathering one never copies (a quarter
    /// more, for the section that crosses the limit: untouched pages cost no memory).
    mutating func reserve(_ bytes: Int) {
        self.reservation = bytes + bytes / 4
        self.reserveArenas()
    }

    /// Gives the arenas the reserved capacity: values for a whole chunk, keys for a quarter of it, and entries for
    /// records of 64 bytes or more (a growing array would copy itself, and fault in twice the pages, at every
    /// doubling; an early chunk's arenas would otherwise grow again in each chunk that reuses them).
    private mutating func reserveArenas() {
        if self.values.capacity < self.reservation {
            self.values.reserveCapacity(self.reservation)
            HugePages.advise(&self.values)
        }
        if self.keys.capacity < self.reservation / 4 {
            self.keys.reserveCapacity(self.reservation / 4)
            HugePages.advise(&self.keys)
        }
        if self.entries.capacity < self.reservation / 64 {
            self.entries.reserveCapacity(self.reservation / 64)
            HugePages.advise(&self.entries)
        }
    }

    /// Starts the next section: older than every section before it. Its records follow in SQN order (`add`).
    mutating func beginSection() {
        self.sectionStarts.append(self.entries.count)
    }

    /// Takes one record of the current section's `bytes` (after the section's records of lower SQN), copying its
    /// key and value. A prefix delete without a prefix successor (`[UInt8].prefixSuccessor`) has no range deletion,
    /// so the replay cannot go newest first: it sets `needsInOrderReplay`, and the caller `abandon`s the replay.
    mutating func add(_ span: ChangelogSegment.RecordSpan, of bytes: [UInt8]) {
        let order = span.sqn
        if span.kind == .deletePrefix {
            let prefix = Array(bytes[span.keyOffset..<span.keyOffset + span.keyCount])
            if prefix.prefixSuccessor == nil { self.needsInOrderReplay = true }
            let slot = RawStateKey(column: span.column, key: prefix)
            if let at = self.clears[slot] {
                self.clearList[at].orders.append(order)
            } else {
                self.clears[slot] = self.clearList.count
                self.clearList.append(Clear(column: span.column, prefix: prefix, orders: [order]))
            }
            return
        }
        if span.column >= self.columns.count { self.columns += repeatElement(false, count: span.column + 1 - self.columns.count) }
        self.columns[span.column] = true
        let keyOffset = self.keys.count
        let valueOffset = self.values.count
        let (high, low) = bytes.withUnsafeBytes { raw in
            let key = UnsafeRawBufferPointer(rebasing: raw[span.keyOffset..<span.keyOffset + span.keyCount])
            self.keys.append(contentsOf: key)
            self.values.append(contentsOf: UnsafeRawBufferPointer(
                rebasing: raw[span.valueOffset..<span.valueOffset + span.valueCount]))
            return Self.sortWords(key)
        }
        self.entries.append(Entry(
            high: high, low: low, order: order, column: UInt32(span.column), keyOffset: UInt32(keyOffset),
            keyCount: UInt32(span.keyCount), valueOffset: UInt32(valueOffset),
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

    /// Writes the last chunk, waits for every chunk, and ingests the files into `state`, oldest chunk first, each
    /// file in a single step.
    /// - Returns: The entries written (puts, deletes, merges and range deletions).
    /// - Throws: `CheckpointError` when a file cannot be written or RocksDB refuses it.
    mutating func finish<Key>(into state: KeyedStateBackend<Key>, directory: String) throws(CheckpointError) -> Int {
        var written = try self.flush(into: state, directory: directory)
        written += try self.drain()
        for files in self.chunkFiles.reversed() {
            for (column, path) in files {
                do { try state.ingest(column: column, files: [path]) } catch {
                    throw CheckpointError.state(error, "ingesting \(path)")
                }
                self.filesIngested += 1
            }
        }
        self.chunkFiles.removeAll()
        return written
    }

    /// Starts writing the chunk gathered so far (older than every chunk before it) into table files in
    /// `directory` (on `state`'s file system), and empties it. The chunk is split by key group into two halves
    /// that are sorted, folded and written on two threads at once (their files never overlap). A lone replay
    /// gathers the next chunk while this one is written (with other replays running the cores are busy anyway,
    /// and a second chunk would only take memory, so it waits). The chunk before is finished first.
    /// - Returns: The entries written by the chunks finished meanwhile.
    /// - Throws: `CheckpointError` when a file cannot be written.
    mutating func flush<Key>(into state: KeyedStateBackend<Key>, directory: String) throws(CheckpointError) -> Int {
        var written = try self.drain()
        self.inFlight = try self.start(into: state, directory: directory)
        if Self.running.load(ordering: .relaxed) > 1 { written += try self.drain() }
        return written
    }

    /// Waits for the chunk being written, if any, and takes its files and the keys it settled.
    /// - Returns: The entries it wrote.
    /// - Throws: `CheckpointError` when a file could not be written.
    private mutating func drain() throws(CheckpointError) -> Int {
        guard let pending = self.inFlight else { return 0 }
        self.inFlight = nil
        return try self.collect(pending)
    }

    /// Gives the replay up: waits until no chunk is being written, and forgets the files written (the caller
    /// removes their directory). Nothing was ingested, so the backend is as it was.
    mutating func abandon() {
        self.waitForWriting()
        self.inFlight = nil
        self.chunkFiles.removeAll()
    }

    /// Blocks until no chunk is being written (before the table directory goes away after an error).
    func waitForWriting() { self.inFlight?.wait() }

    /// A chunk being sorted and written in the background; `drain` waits for it and `collect`s its files.
    // @unchecked: `settled` is written by the background work before `done` is left, and read after `wait()`.
    private final class Pending: @unchecked Sendable {
        fileprivate let halves: [Half]
        fileprivate let done = DispatchGroup()
        /// The keys settled by this chunk and every newer one (set when both halves are written).
        fileprivate var settled = SettledKeys()

        fileprivate init(halves: [Half]) { self.halves = halves }

        /// Blocks until both halves are written.
        func wait() { self.done.wait() }

        /// Whether both halves are written (without waiting).
        var isWritten: Bool { self.done.wait(timeout: .now()) == .success }
    }

    /// A chunk's keys, values and entries.
    fileprivate struct Arenas: Sendable {
        var keys: [UInt8]
        var values: [UInt8]
        var entries: [Entry]

        /// Empties the arenas, keeping their storage (which must be theirs alone by now).
        mutating func empty() {
            self.keys.removeAll(keepingCapacity: true)
            self.values.removeAll(keepingCapacity: true)
            self.entries.removeAll(keepingCapacity: true)
        }
    }

    /// Starts writing the chunk on background threads (the table files are opened here) and empties it, so the
    /// next chunk can be gathered meanwhile; `nil` when the chunk is empty.
    /// - Throws: `CheckpointError` when a table file cannot be created.
    private mutating func start<Key>(into state: KeyedStateBackend<Key>, directory: String) throws(CheckpointError) -> Pending? {
        defer { self.reset() }
        guard !self.entries.isEmpty || !self.clearList.isEmpty else { return nil }
        for index in self.clearList.indices { self.clearList[index].orders.sort() }  // sections came newest first
        let halves = self.split()
        var columns = Set(self.clearList.map(\.column))
        for (column, used) in self.columns.enumerated() where used { columns.insert(column) }
        // The halves hold the only references to the arenas now; `finish` takes them back for the next chunk.
        self.keys = []
        self.values = []
        self.entries = []
        for half in halves {
            for column in columns.sorted() {
                half.writers.append((column, try self.openWriter(state, column: column, directory: directory)))
            }
        }
        let pending = Pending(halves: halves)
        let newer = self.settled
        DispatchQueue.global().async(group: pending.done) {
            DispatchQueue.concurrentPerform(iterations: halves.count) { halves[$0].write(skipping: newer) }
            pending.settled = SettledKeys.merged([newer] + halves.map(\.settled))
        }
        return pending
    }

    /// Waits for a started chunk and takes its files and the keys it settled (chunks must be finished in the
    /// order they started).
    /// - Returns: The entries written.
    /// - Throws: `CheckpointError` when a file could not be written.
    private mutating func collect(_ pending: Pending) throws(CheckpointError) -> Int {
        pending.wait()
        // Every half shares the chunk's arenas; each taken replaces the one before, so the last holds the only
        // references and emptying keeps the storage.
        var arenas: Arenas?
        for half in pending.halves { arenas = half.takeArenas() }
        if var arenas {
            arenas.empty()
            if self.keys.isEmpty && self.values.isEmpty && self.entries.isEmpty {
                // Nothing gathered since it started (replays running at once write each chunk before gathering
                // on): gather into its arenas now, so one replay never holds more than one chunk's memory.
                (self.keys, self.values, self.entries) = (arenas.keys, arenas.values, arenas.entries)
            } else if self.spare == nil {
                self.spare = arenas
            }
        }
        var written = 0
        var files: [(column: Int, path: String)] = []
        for half in pending.halves {
            if let failure = half.failure { throw failure }
            written += half.written
            files += half.files
        }
        self.chunkFiles.append(files)
        self.settled = pending.settled
        return written
    }

    /// Splits the chunk at the key group that halves its entries (a clear goes with its prefix's key group); one
    /// half when a clear's prefix is shorter than a key group (it could span both). The halves share the chunk's
    /// entries and hold the positions of theirs, in SQN order.
    private func split() -> [Half] {
        let everything = self.sqnOrder()
        let whole = {
            Half(entries: self.entries, members: everything, clears: self.clearList, keys: self.keys, values: self.values)
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
        for index in everything {
            if Int(self.entries[Int(index)].high >> 48) < pivot { low.append(index) } else { high.append(index) }
        }
        let isLow = { (clear: Clear) in Int(clear.prefix[0]) << 8 | Int(clear.prefix[1]) < pivot }
        return [
            Half(entries: self.entries, members: low, clears: self.clearList.filter(isLow), keys: self.keys,
                 values: self.values),
            Half(entries: self.entries, members: high, clears: self.clearList.filter { !isLow($0) }, keys: self.keys,
                 values: self.values),
        ]
    }

    /// The positions of the chunk's entries in SQN order: its sections' entries, oldest section first.
    private func sqnOrder() -> [UInt32] {
        var order: [UInt32] = []
        order.reserveCapacity(self.entries.count)
        var end = self.entries.count
        for start in self.sectionStarts.reversed() where start < end {
            order += UInt32(start)..<UInt32(end)
            end = start
        }
        order += 0..<UInt32(end)  // records added before any section began
        return order
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
    // @unchecked: `write()` runs on one thread at a time per half; the arrays it reads are shared with the other
    // half and not changed while they write, and the writers are its own. The caller reads the results, and takes
    // the arrays back, after both halves finished.
    fileprivate final class Half: @unchecked Sendable {
        /// The chunk's entries (shared by both halves), and the positions of this half's, in SQN order.
        private(set) var entries: [Entry]
        let members: [UInt32]
        let clears: [Clear]
        private(set) var keys: [UInt8]
        private(set) var values: [UInt8]
        /// One writer per state (column order), opened by the caller.
        var writers: [(column: Int, writer: RocksTableWriter)] = []
        /// Finished files to ingest.
        var files: [(column: Int, path: String)] = []
        /// The keys this half settles that no newer chunk settled, in key order.
        var settled = SettledKeys()
        var written = 0
        var failure: CheckpointError?

        init(entries: [Entry], members: [UInt32], clears: [Clear], keys: [UInt8], values: [UInt8]) {
            self.entries = entries
            self.members = members
            self.clears = clears.sorted {
                RawStateKey(column: $0.column, key: $0.prefix) < RawStateKey(column: $1.column, key: $1.prefix)
            }
            self.keys = keys
            self.values = values
        }

        /// Gives up the half's references to the chunk's arenas once it is written (so they can be reused).
        fileprivate func takeArenas() -> Arenas {
            defer {
                self.keys = []
                self.values = []
                self.entries = []
            }
            return Arenas(keys: self.keys, values: self.values, entries: self.entries)
        }

        /// Entries ahead of the one being written whose key and value are prefetched: they lie in arrival order,
        /// so each visit in key order would otherwise wait for memory.
        private static let prefetchDistance = 8

        /// Sorts, folds and writes the half, leaving out the keys `newer` chunks settled.
        func write(skipping newer: SettledKeys) {
            self.settled.reserve(self.members.count)
            let entries = TableReplay.sorted(self.members, of: self.entries, keys: self.keys)
            self.keys.withUnsafeBytes { keys in
                self.values.withUnsafeBytes { values in
                    newer.tails.withUnsafeBytes { tails in
                        entries.withUnsafeBufferPointer {
                            self.write($0, keys: keys, values: values, skipping: newer, tails: tails)
                        }
                    }
                }
            }
        }

        private func write(
            _ entries: UnsafeBufferPointer<Entry>, keys: UnsafeRawBufferPointer, values: UnsafeRawBufferPointer,
            skipping newer: SettledKeys, tails: UnsafeRawBufferPointer
        ) {
            let clears = self.clears
            var position = 0  // in `newer`
            var index = 0
            var clearStart = 0
            for (column, writer) in self.writers {
                var clearEnd = clearStart
                while clearEnd < clears.count && clears[clearEnd].column == column { clearEnd += 1 }
                var clearIndex = clearStart
                do throws(RocksError) {
                    while index < entries.count && Int(entries[index].column) == column {
                        if index + Self.prefetchDistance < entries.count {
                            let ahead = entries[index + Self.prefetchDistance]
                            Prefetch.read(keys.baseAddress! + Int(ahead.keyOffset))
                            if ahead.valueCount > 0 { Prefetch.read(values.baseAddress! + Int(ahead.valueOffset)) }
                            if ahead.valueCount > 64 { Prefetch.read(values.baseAddress! + Int(ahead.valueOffset) + 64) }
                        }
                        let first = entries[index]
                        var end = index + 1
                        while end < entries.count && TableReplay.sameKey(entries[end], first, keys) { end += 1 }
                        let key = TableReplay.view(first, keys)
                        if newer.contains(key, from: &position, tails: tails) {
                            index = end  // a newer chunk's file holds the key's last word
                            continue
                        }
                        // The clear covering this key, if any (clear prefixes of a column never overlap: primary
                        // keys are prefix-free), found by walking the sorted clears along the sorted keys.
                        while clearIndex < clearEnd && TableReplay.clear(clears[clearIndex], isBefore: first, keys) {
                            clearIndex += 1
                        }
                        let covering = clearIndex < clearEnd && TableReplay.clear(clears[clearIndex], covers: first, keys)
                            ? clears[clearIndex].orders : []
                        let fold = TableReplay.fold(
                            UnsafeBufferPointer(rebasing: entries[index..<end]), clearedAt: covering, values: values)
                        try TableReplay.emit(fold, key: first, keys: keys, values: values, into: writer)
                        if fold.settles {
                            self.settled.append(
                                column: first.column, high: first.high, low: first.low, count: first.keyCount,
                                tail: first.keyCount > 16
                                    ? UnsafeRawBufferPointer(rebasing: keys[Int(first.keyOffset) + 16..<Int(first.keyOffset + first.keyCount)])
                                    : UnsafeRawBufferPointer(start: nil, count: 0))
                        }
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
    private static func fold(_ records: UnsafeBufferPointer<Entry>, clearedAt clears: [UInt64], values: UnsafeRawBufferPointer) -> Fold {
        var fold: Fold?
        var nextClear = 0
        for record in records {
            while nextClear < clears.count && clears[nextClear] < record.order {
                fold = .cleared
                nextClear += 1
            }
            switch record.kind {
            case .put: fold = .put(offset: record.valueOffset, count: record.valueCount)
            case .delete: fold = .deleted
            case .append:
                let operand = UnsafeRawBufferPointer(
                    rebasing: values[Int(record.valueOffset)..<Int(record.valueOffset + record.valueCount)])
                switch fold {
                case nil: fold = .operands(Array(operand))
                case .operands(var bytes):
                    bytes.append(contentsOf: operand)
                    fold = .operands(bytes)
                case .put(let offset, let count):
                    fold = .value(Array(UnsafeRawBufferPointer(rebasing: values[Int(offset)..<Int(offset + count)])) + operand)
                case .value(var bytes):
                    bytes.append(contentsOf: operand)
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
        _ fold: Fold, key: Entry, keys: UnsafeRawBufferPointer, values: UnsafeRawBufferPointer,
        into writer: RocksTableWriter
    ) throws(RocksError) {
        let keyBytes = UnsafeRawBufferPointer(rebasing: keys[Int(key.keyOffset)..<Int(key.keyOffset + key.keyCount)])
        switch fold {
        case .cleared: break
        case .deleted: try writer.delete(key: keyBytes)
        case .operands(let bytes):
            try withBytes(bytes) { value throws(RocksError) in try writer.merge(key: keyBytes, operand: value) }
        case .value(let bytes):
            try withBytes(bytes) { value throws(RocksError) in try writer.put(key: keyBytes, value: value) }
        case .put(let offset, let count):
            try writer.put(key: keyBytes, value: UnsafeRawBufferPointer(rebasing: values[Int(offset)..<Int(offset + count)]))
        }
    }

    /// The entries at `members`, sorted by column, key (byte-wise) and SQN order.
    ///
    /// A radix sort by column, the key's first 16 bytes and key length, over the bytes that differ between
    /// entries only (integer keys of a million values in 128 key groups differ in 4 of them): one counting pass
    /// by the most significant differing byte gathers the entries into buckets small enough to stay in cache
    /// (the key group, for such keys), then each bucket is sorted least significant byte first. Counting passes
    /// are stable and `members` is in SQN order, so equal keys stay in SQN order. Keys longer than 16 bytes whose
    /// first 16 are equal are then put in byte-wise order by their remaining bytes.
    private static func sorted(_ members: [UInt32], of entries: [Entry], keys: [UInt8]) -> [Entry] {
        guard let head = members.first else { return [] }
        let first = entries[Int(head)]
        var differing = DifferingBytes()
        for index in members { differing.add(entries[Int(index)], first) }
        guard let top = differing.digits.last else { return members.map { entries[Int($0)] } }
        var sorted: [Entry] = []
        sorted.reserveCapacity(members.count)
        HugePages.advise(&sorted)
        sorted.append(contentsOf: repeatElement(first, count: members.count))
        var starts = [Int](repeating: 0, count: 257)
        for index in members { starts[top.digit(entries[Int(index)]) + 1] += 1 }
        for digit in 0..<256 { starts[digit + 1] += starts[digit] }
        let bucketStarts = starts
        sorted.withUnsafeMutableBufferPointer { sorted in
            for index in members {
                let entry = entries[Int(index)]
                let digit = top.digit(entry)
                sorted[starts[digit]] = entry
                starts[digit] += 1
            }
            let largest = (0..<256).map { bucketStarts[$0 + 1] - bucketStarts[$0] }.max() ?? 0
            var scratch = [Entry](repeating: first, count: largest)
            scratch.withUnsafeMutableBufferPointer { scratch in
                for digit in 0..<256 where bucketStarts[digit + 1] - bucketStarts[digit] > 1 {
                    Self.sortBucket(
                        UnsafeMutableBufferPointer(rebasing: sorted[bucketStarts[digit]..<bucketStarts[digit + 1]]),
                        scratch: scratch)
                }
            }
        }
        if sorted.contains(where: { $0.keyCount > 16 }) { Self.orderTails(&sorted, keys: keys) }
        return sorted
    }

    /// Sorts a bucket least significant differing byte first, with `scratch` (at least as large) between passes.
    private static func sortBucket(_ bucket: UnsafeMutableBufferPointer<Entry>, scratch: UnsafeMutableBufferPointer<Entry>) {
        var differing = DifferingBytes()
        for entry in bucket { differing.add(entry, bucket[0]) }
        var source = bucket
        var target = UnsafeMutableBufferPointer(rebasing: scratch[0..<bucket.count])
        var counts = [Int](repeating: 0, count: 257)
        for digit in differing.digits {
            for index in counts.indices { counts[index] = 0 }
            for entry in source { counts[digit.digit(entry) + 1] += 1 }
            for value in 0..<256 { counts[value + 1] += counts[value] }
            for entry in source {
                let value = digit.digit(entry)
                target[counts[value]] = entry
                counts[value] += 1
            }
            swap(&source, &target)
        }
        if source.baseAddress != bucket.baseAddress {
            _ = UnsafeMutableBufferPointer(start: bucket.baseAddress, count: bucket.count).update(fromContentsOf: source)
        }
    }

    /// One byte of an entry's sort fields.
    private struct SortDigit {
        /// 0: key length, 1: key bytes 8..<16, 2: key bytes 0..<8, 3: column (least significant first).
        var field: Int
        var shift: UInt64

        @inline(__always) func digit(_ entry: Entry) -> Int {
            let word: UInt64
            switch self.field {
            case 0: word = UInt64(entry.keyCount)
            case 1: word = entry.low
            case 2: word = entry.high
            default: word = UInt64(entry.column)
            }
            return Int(truncatingIfNeeded: word >> self.shift) & 0xFF
        }
    }

    /// Which bytes of the sort fields differ between a set of entries.
    private struct DifferingBytes {
        private var length: UInt64 = 0
        private var low: UInt64 = 0
        private var high: UInt64 = 0
        private var column: UInt64 = 0

        @inline(__always) mutating func add(_ entry: Entry, _ first: Entry) {
            self.length |= UInt64(entry.keyCount ^ first.keyCount)
            self.low |= entry.low ^ first.low
            self.high |= entry.high ^ first.high
            self.column |= UInt64(entry.column ^ first.column)
        }

        /// The differing bytes, least significant first.
        var digits: [SortDigit] {
            var digits: [SortDigit] = []
            for (field, word) in [self.length, self.low, self.high, self.column].enumerated() {
                for shift in stride(from: UInt64(0), to: 64, by: 8) where (word >> shift) & 0xFF != 0 {
                    digits.append(SortDigit(field: field, shift: shift))
                }
            }
            return digits
        }
    }

    /// Sorts each run of entries with equal column and first 16 key bytes that holds a key longer than 16 bytes
    /// by the rest of the key (byte-wise; a key that is a prefix of another first), then by length and SQN order.
    private static func orderTails(_ sorted: inout [Entry], keys: [UInt8]) {
        keys.withUnsafeBytes { raw in
            var start = 0
            while start < sorted.count {
                let first = sorted[start]
                var end = start + 1
                var long = first.keyCount > 16
                while end < sorted.count && sorted[end].high == first.high && sorted[end].low == first.low
                    && sorted[end].column == first.column
                {
                    long = long || sorted[end].keyCount > 16
                    end += 1
                }
                if long && end - start > 1 {
                    sorted[start..<end].sort { a, b in
                        let order = SettledKeys.compare(Self.view(a, raw), Self.view(b, raw))
                        return order != 0 ? order < 0 : a.order < b.order
                    }
                }
                start = end
            }
        }
    }

    /// An entry's key as `SettledKeys.compare` orders it (the replay's key order, which the sort keeps too).
    @inline(__always)
    private static func view(_ entry: Entry, _ keys: UnsafeRawBufferPointer) -> SettledKeys.View {
        SettledKeys.View(
            column: entry.column, high: entry.high, low: entry.low, count: entry.keyCount,
            tail: entry.keyCount > 16 ? keys.baseAddress! + Int(entry.keyOffset) + 16 : nil)
    }

    private static func sameKey(_ a: Entry, _ b: Entry, _ keys: UnsafeRawBufferPointer) -> Bool {
        SettledKeys.compare(Self.view(a, keys), Self.view(b, keys)) == 0
    }

    /// Whether every key the clear covers sorts before `entry`'s key (so it covers no later key either).
    private static func clear(_ clear: Clear, isBefore entry: Entry, _ keys: UnsafeRawBufferPointer) -> Bool {
        if clear.column != Int(entry.column) { return clear.column < Int(entry.column) }
        if Self.clear(clear, covers: entry, keys) { return false }
        let key = keys[Int(entry.keyOffset)..<Int(entry.keyOffset + entry.keyCount)]
        return clear.prefix.lexicographicallyPrecedes(key)
    }

    /// Whether `entry`'s key starts with the clear's prefix (in the same column).
    private static func clear(_ clear: Clear, covers entry: Entry, _ keys: UnsafeRawBufferPointer) -> Bool {
        guard clear.column == Int(entry.column), clear.prefix.count <= Int(entry.keyCount) else { return false }
        let start = Int(entry.keyOffset)
        return keys[start..<start + clear.prefix.count].elementsEqual(clear.prefix)
    }

    private mutating func reset() {
        if let spare = self.spare {
            self.keys = spare.keys
            self.values = spare.values
            self.entries = spare.entries
            self.spare = nil
        } else {
            self.keys.removeAll(keepingCapacity: true)
            self.values.removeAll(keepingCapacity: true)
            self.entries.removeAll(keepingCapacity: true)
        }
        self.reserveArenas()
        self.columns.removeAll(keepingCapacity: true)
        self.clears.removeAll()
        self.clearList.removeAll()
        self.sectionStarts.removeAll(keepingCapacity: true)
    }
}
