#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import RocksKit
import StateCore

/// Keeps state in RocksDB: one column family per state (named `state.<name>`), state metadata as JSON in the
/// default column family under `weir.state/<name>`.
final class RocksStateStore: StateStore {
    let database: RocksDatabase
    private var families: [ColumnFamily] = []
    private let persisted: [String: StateMetadata]
    private let clock: any StateClock
    /// Keys a lazy rollback has not written back yet (they read at its snapshot); `nil` when there are none.
    private var deferred: DeferredRollback?
    private static let metadataPrefix: [UInt8] = Array("weir.state/".utf8)

    /// Opens the database at `directory`. Existing states are reopened with the options their metadata records,
    /// so merge operators, TTL filters and blob settings are in place before any state is read.
    init(directory: String, options: RocksOptions, clock: any StateClock, mustExist: Bool) throws(StateError) {
        self.clock = clock
        var persisted: [String: StateMetadata] = [:]
        let hasDatabase = (try? RocksDatabase.listColumnFamilies(path: directory)) != nil
        if mustExist && !hasDatabase {
            throw StateError(
                code: .missing,
                message: "no RocksDB state backend at \(directory): the directory is missing or holds no database. "
                    + "Check the path, or open with `reopen: false` to create a new backend there.")
        }
        if hasDatabase {
            persisted = try Self.readMetadata(directory: directory, options: options)
        }
        var families: [String: ColumnFamilyOptions] = [:]
        for metadata in persisted.values {
            families[Self.familyName(metadata.name)] = Self.familyOptions(metadata, clock: clock)
        }
        var databaseOptions = options
        databaseOptions.createIfMissing = !mustExist
        do {
            self.database = try RocksDatabase(path: directory, options: databaseOptions, columnFamilies: families)
        } catch {
            throw StateError.storage(error, state: nil)
        }
        self.persisted = persisted
    }

    static func familyName(_ stateName: String) -> String { "state.\(stateName)" }

    static func familyOptions(_ metadata: StateMetadata, clock: any StateClock) -> ColumnFamilyOptions {
        ColumnFamilyOptions(
            valueSeparation: metadata.valueSeparation,
            mergeOperator: metadata.kind == .list ? .concatenation : nil,
            compactionFilter: metadata.ttl.map {
                TTLCompactionFilter(ttl: $0, layout: metadata.kind == .list ? .list : .single, clock: clock)
            })
    }

    /// Reads every state's metadata from the default column family, opening the database on its own first (the
    /// real open needs the options the metadata describes).
    private static func readMetadata(directory: String, options: RocksOptions) throws(StateError)
        -> [String: StateMetadata]
    {
        var probeOptions = options
        probeOptions.createIfMissing = false
        probeOptions.statistics = false
        let probe: RocksDatabase
        do {
            probe = try RocksDatabase(path: directory, options: probeOptions)
        } catch {
            throw StateError.storage(error, state: nil)
        }
        defer { try? probe.close() }
        guard let family = probe.columnFamily(named: "default") else { return [:] }
        var result: [String: StateMetadata] = [:]
        let iterator = RocksIterator(
            database: probe, family: family, lowerBound: Self.metadataPrefix,
            upperBound: Self.metadataPrefix.prefixSuccessor)
        iterator.seekToFirst()
        while iterator.isValid {
            let (key, value) = (iterator.key, iterator.value)
            do {
                let metadata = try JSONDecoder().decode(StateMetadata.self, from: Data(value))
                result[metadata.name] = metadata
            } catch {
                throw StateError(
                    code: .corruption,
                    message: "state metadata \(String(decoding: key, as: UTF8.self)) in \(directory) does not "
                        + "decode (\(error)); the backend directory is damaged: restore from a checkpoint")
            }
            iterator.next()
        }
        do { try iterator.checkError() } catch { throw StateError.storage(error, state: nil) }
        return result
    }

    func persistedMetadata(named name: String) -> StateMetadata? { self.persisted[name] }

    var engine: StoreEngine { .rocksDB(self) }

    func openColumn(_ metadata: StateMetadata) throws(StateError) -> Int {
        do {
            let family = try self.database.createColumnFamily(
                named: Self.familyName(metadata.name), options: Self.familyOptions(metadata, clock: self.clock))
            if self.persisted[metadata.name] == nil, let defaultFamily = self.database.columnFamily(named: "default") {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                let json = (try? encoder.encode(metadata)).map { [UInt8]($0) } ?? []
                try self.database.put(
                    defaultFamily, key: Self.metadataPrefix + Array(metadata.name.utf8), value: json)
            }
            self.families.append(family)
            return self.families.count - 1
        } catch {
            throw StateError.storage(error, state: metadata.name)
        }
    }

    @inline(__always)
    private func family(_ column: Int) -> ColumnFamily { self.families[column] }

    func put(_ column: Int, key: [UInt8], primaryLength: Int, value: [UInt8]) throws(StateError) {
        do { try self.database.put(self.family(column), key: key, value: value) } catch {
            throw StateError.storage(error, state: self.stateName(column))
        }
        if self.deferred != nil { self.madeCurrent(column, key) }
    }

    func get<R>(
        _ column: Int, key: [UInt8], primaryLength: Int, _ body: (inout ByteReader?) throws(StateError) -> R
    ) throws(StateError) -> R {
        do {
            return try self.database.withValue(self.family(column), key: key, at: self.readPoint(column, key), body)
        } catch {
            switch error {
            case .rocks(let rocks): throw StateError.storage(rocks, state: self.stateName(column))
            case .body(let body): throw body
            }
        }
    }

    func append(_ column: Int, key: [UInt8], operand: [UInt8]) throws(StateError) {
        if let point = self.readPoint(column, key) {
            // The operand goes onto the value the rollback returns to, so that value is written back first.
            _ = try self.writeBack([RawStateKey(column: column, key: key)], at: point)
            self.madeCurrent(column, key)
        }
        do { try self.database.merge(self.family(column), key: key, operand: operand) } catch {
            throw StateError.storage(error, state: self.stateName(column))
        }
    }

    func delete(_ column: Int, key: [UInt8], primaryLength: Int) throws(StateError) {
        do { try self.database.delete(self.family(column), key: key) } catch {
            throw StateError.storage(error, state: self.stateName(column))
        }
        if self.deferred != nil { self.madeCurrent(column, key) }
    }

    /// The snapshot `key` reads at while its rollback is deferred, or `nil` (read the database as it is). Binds
    /// no copy of the set, so that a mutation right after does not copy it.
    @inline(__always)
    private func readPoint(_ column: Int, _ key: [UInt8]) -> RocksSnapshot? {
        guard self.deferred?.contains(column, key) == true else { return nil }
        return self.deferred?.point
    }

    /// Takes `key` out of the deferred rollback: the database now holds its state.
    private func madeCurrent(_ column: Int, _ key: [UInt8]) {
        self.deferred?.remove(column, key)
        if self.deferred?.isEmpty == true { self.deferred = nil }
    }

    func scan(
        _ column: Int, prefix: [UInt8], _ body: (ByteReader, ByteReader) throws(StateError) -> Bool
    ) throws(StateError) {
        // An iterator reads the database as it is, so deferred keys of the column are written back first.
        try self.settle(column: column)
        let iterator = RocksIterator(
            database: self.database, family: self.family(column), lowerBound: prefix,
            upperBound: prefix.prefixSuccessor)
        iterator.seek(to: prefix)
        while iterator.isValid {
            let proceed = try iterator.withEntry { key, value throws(StateError) in try body(key, value) }
            if !proceed { return }
            iterator.next()
        }
        do { try iterator.checkError() } catch { throw StateError.storage(error, state: self.stateName(column)) }
    }

    func deletePrefix(_ column: Int, prefix: [UInt8]) throws(StateError) {
        try self.settle(column: column)
        do {
            if let end = prefix.prefixSuccessor {
                try self.database.deleteRange(self.family(column), start: prefix, end: end)
            } else {
                var keys: [[UInt8]] = []
                try self.scan(column, prefix: prefix) { key, _ in
                    var key = key
                    keys.append(key.readRemainingBytes())
                    return true
                }
                for key in keys { try self.database.delete(self.family(column), key: key) }
            }
        } catch let error as RocksError {
            throw StateError.storage(error, state: self.stateName(column))
        } catch let error as StateError {
            throw error
        } catch {
            throw StateError(code: .io, message: "\(error)")
        }
    }

    /// Applies changes in one write batch (restore and replay).
    func apply(_ changes: [RawStateChange]) throws(StateError) {
        try self.settle()
        var batch = RocksWriteBatch()
        for change in changes {
            let family = self.family(change.column)
            switch change.kind {
            case .put: batch.put(family, key: change.key, value: change.value)
            case .append: batch.merge(family, key: change.key, operand: change.value)
            case .delete: batch.delete(family, key: change.key)
            case .deletePrefix: try self.deletePrefix(change.column, prefix: change.key, into: &batch)
            }
        }
        do { try self.database.write(batch) } catch { throw StateError.storage(error, state: nil) }
    }

    /// A writer for a table file of `column`'s family at `path`. Uncompressed: the file lands in level 0, where
    /// the next compaction rewrites it compressed anyway, so compressing it would only slow the restore down.
    func tableWriter(column: Int, path: String) throws(StateError) -> RocksTableWriter {
        do { return try self.database.tableWriter(path: path, compression: Compression.none) } catch {
            throw StateError.storage(error, state: self.stateName(column))
        }
    }

    /// Pauses or resumes automatic compactions of every state's family.
    func setAutomaticCompactions(_ enabled: Bool) throws(StateError) {
        for family in self.families {
            do { try self.database.setAutomaticCompactions(enabled, family: family) } catch {
                throw StateError.storage(error, state: nil)
            }
        }
    }

    /// Ingests finished table files into `column`'s family.
    func ingest(column: Int, files: [String]) throws(StateError) {
        try self.settle()
        do { try self.database.ingest(self.family(column), files: files) } catch {
            throw StateError.storage(error, state: self.stateName(column))
        }
    }

    /// Adds the deletion of every key of `column` under `prefix` to `batch`: one range delete, or (for a prefix of
    /// 0xFF bytes, which has no successor) a delete per key found now.
    private func deletePrefix(_ column: Int, prefix: [UInt8], into batch: inout RocksWriteBatch) throws(StateError) {
        let family = self.family(column)
        if let end = prefix.prefixSuccessor {
            batch.deleteRange(family, start: prefix, end: end)
        } else {
            try self.scan(column, prefix: prefix) { key, _ in
                var key = key
                batch.delete(family, key: key.readRemainingBytes())
                return true
            }
        }
    }

    func close(discarding: Bool) throws(StateError) {
        if discarding {
            self.deferred = nil
            return self.database.discard()
        }
        try self.settle()
        do { try self.database.close() } catch { throw StateError.storage(error, state: nil) }
    }

    /// Returns the state to what `snapshot` saw, given every key changed since (`keys`) and every key prefix
    /// deleted since (`prefixes`). Prefixes are written back now: every entry under each (after deleting what is
    /// there now). Keys are deferred (`DeferredRollback`): each reads at `snapshot` until it is written again or
    /// `settle` writes it back, so the next attempt starts at once and the records it reprocesses rewrite most of
    /// them anyway. Keys still deferred from an earlier rollback to the same snapshot stay deferred; those of
    /// another snapshot are written back first.
    /// - Returns: The writes made now and the keys deferred.
    func rollBack(keys: some Collection<RawStateKey>, prefixes: [RawStateKey], to snapshot: RocksSnapshot)
        throws(StateError) -> (written: Int, deferred: Int)
    {
        if let point = self.deferred?.point, point !== snapshot { try self.settle() }
        var batch = RocksWriteBatch()
        var written = 0
        for prefix in prefixes {
            let family = self.family(prefix.column)
            try self.deletePrefix(prefix.column, prefix: prefix.key, into: &batch)
            let iterator = RocksIterator(
                database: self.database, family: family, lowerBound: prefix.key, upperBound: prefix.key.prefixSuccessor,
                snapshot: snapshot)
            iterator.seek(to: prefix.key)
            while iterator.isValid {
                batch.put(family, key: iterator.key, value: iterator.value)
                if batch.count >= Limits.rollbackBatchWrites { written += try self.write(&batch) }
                iterator.next()
            }
            do { try iterator.checkError() } catch { throw StateError.storage(error, state: self.stateName(prefix.column)) }
        }
        written += try self.write(&batch)
        guard !keys.isEmpty else { return (written, self.deferred?.keys.count ?? 0) }
        if var deferred = self.deferred {
            self.deferred = nil  // the local copy is now the set's only owner: no copy on the union
            deferred.formUnion(keys)
            self.deferred = deferred
        } else {
            self.deferred = DeferredRollback(point: snapshot, keys: keys)
        }
        return (written, self.deferred?.keys.count ?? 0)
    }

    /// Writes back the deferred keys of `column` (of every column when `nil`): a checkpoint's snapshot, an
    /// iterator or a new rollback point must see the database as the state is.
    /// - Returns: The writes made.
    @discardableResult
    func settle(column: Int? = nil) throws(StateError) -> Int {
        guard var deferred = self.deferred else { return 0 }
        if let column, !deferred.has(column: column) { return 0 }
        self.deferred = nil  // the local copy is now the set's only owner
        let keys = deferred.take(column: column)
        self.deferred = deferred.isEmpty ? nil : deferred
        do { return try self.writeBack(keys, at: deferred.point) } catch {
            // Keys already written back hold their value at the snapshot, so deferring them again is harmless.
            if self.deferred == nil { self.deferred = DeferredRollback(point: deferred.point, keys: keys) } else {
                self.deferred?.formUnion(keys)
            }
            throw error
        }
    }

    /// The snapshot deferred keys read at, if any.
    var deferredPoint: RocksSnapshot? { self.deferred?.point }

    /// How many keys are deferred.
    var deferredKeys: Int { self.deferred?.keys.count ?? 0 }

    /// Writes back the values `snapshot` saw under `sorted` keys (a delete where there was none), with batched
    /// MultiGets of up to 256 keys of one column (lookups share index, filter and block reads).
    /// - Returns: The writes made.
    private func writeBack(_ sorted: [RawStateKey], at snapshot: RocksSnapshot) throws(StateError) -> Int {
        var batch = RocksWriteBatch()
        var written = 0
        var start = 0
        while start < sorted.count {
            let column = sorted[start].column
            var end = start
            while end < sorted.count && end - start < 256 && sorted[end].column == column { end += 1 }
            let family = self.family(column)
            let chunk = sorted[start..<end].map(\.key)
            let values: [[UInt8]?]
            do { values = try self.database.multiGet(family, sortedKeys: chunk, at: snapshot) } catch {
                throw StateError.storage(error, state: self.stateName(column))
            }
            for (key, value) in zip(chunk, values) {
                if let value { batch.put(family, key: key, value: value) } else { batch.delete(family, key: key) }
            }
            if batch.count >= Limits.rollbackBatchWrites { written += try self.write(&batch) }
            start = end
        }
        return written + (try self.write(&batch))
    }

    /// Writes `batch` (if not empty) and clears it.
    /// - Returns: The writes made.
    private func write(_ batch: inout RocksWriteBatch) throws(StateError) -> Int {
        let count = batch.count
        guard count > 0 else { return 0 }
        do { try self.database.write(batch) } catch { throw StateError.storage(error, state: nil) }
        batch.clear()
        return count
    }

    private func stateName(_ column: Int) -> String {
        String(self.families[column].name.dropFirst("state.".count))
    }
}
