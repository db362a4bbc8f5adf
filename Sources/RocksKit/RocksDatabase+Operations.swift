import CRocksDB
import StateCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension RocksDatabase {
    /// Writes `value` under `key`.
    /// - Throws: `RocksError` (e.g. `.noSpace`); a failed write has no effect.
    public func put(_ family: ColumnFamily, key: [UInt8], value: [UInt8]) throws(RocksError) {
        try withBytes(key) { k throws(RocksError) in
            try withBytes(value) { v throws(RocksError) in
                try self.put(family, key: k, value: v)
            }
        }
    }

    /// Writes `value` under `key`, both given as raw bytes valid for the call.
    /// - Throws: `RocksError`; a failed write has no effect.
    public func put(_ family: ColumnFamily, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
        throws(RocksError)
    {
        try withRocksError(operation: "put to '\(family.name)'", path: self.path) { error in
            rocksdb_put_cf(
                self.handle, self.writeOptions, family.handle,
                key.baseAddress?.assumingMemoryBound(to: CChar.self), key.count,
                value.baseAddress?.assumingMemoryBound(to: CChar.self), value.count, error)
        }
    }

    /// Merges `operand` into the value under `key` with the family's merge operator.
    /// - Precondition: the family was configured with a merge operator.
    /// - Throws: `RocksError`.
    public func merge(_ family: ColumnFamily, key: [UInt8], operand: [UInt8]) throws(RocksError) {
        try withBytes(key) { k throws(RocksError) in
            try withBytes(operand) { v throws(RocksError) in
                try withRocksError(operation: "merge into '\(family.name)'", path: self.path) { error in
                    rocksdb_merge_cf(
                        self.handle, self.writeOptions, family.handle,
                        k.baseAddress?.assumingMemoryBound(to: CChar.self), k.count,
                        v.baseAddress?.assumingMemoryBound(to: CChar.self), v.count, error)
                }
            }
        }
    }

    /// Deletes the value under `key` (a no-op when there is none).
    /// - Throws: `RocksError`.
    public func delete(_ family: ColumnFamily, key: [UInt8]) throws(RocksError) {
        try withBytes(key) { k throws(RocksError) in
            try withRocksError(operation: "delete from '\(family.name)'", path: self.path) { error in
                rocksdb_delete_cf(
                    self.handle, self.writeOptions, family.handle,
                    k.baseAddress?.assumingMemoryBound(to: CChar.self), k.count, error)
            }
        }
    }

    /// Deletes every key in `[start, end)`.
    /// - Throws: `RocksError`.
    public func deleteRange(_ family: ColumnFamily, start: [UInt8], end: [UInt8]) throws(RocksError) {
        try withBytes(start) { s throws(RocksError) in
            try withBytes(end) { e throws(RocksError) in
                try withRocksError(operation: "delete range in '\(family.name)'", path: self.path) { error in
                    rocksdb_delete_range_cf(
                        self.handle, self.writeOptions, family.handle,
                        s.baseAddress?.assumingMemoryBound(to: CChar.self), s.count,
                        e.baseAddress?.assumingMemoryBound(to: CChar.self), e.count, error)
                }
            }
        }
    }

    /// Looks up `key` and passes its value (or `nil`) to `body` without copying it out of RocksDB.
    /// - Parameters:
    ///   - family: The column family.
    ///   - key: The key.
    ///   - snapshot: Read as this snapshot saw the database, or `nil` for now.
    ///   - body: Reads the value; the reader is valid only during the call.
    /// - Returns: What `body` returns.
    /// - Throws: `RocksError`, or what `body` throws (as `E`).
    public func withValue<R, E: Error>(
        _ family: ColumnFamily,
        key: [UInt8],
        at snapshot: RocksSnapshot? = nil,
        _ body: (inout ByteReader?) throws(E) -> R
    ) throws(RocksKitOrBodyError<E>) -> R {
        let slice: PinnedValue
        do {
            slice = PinnedValue(handle: try self.pinnedValue(family, key: key, readOptions: snapshot?.readOptions))
        } catch {
            throw .rocks(error)
        }
        do throws(E) {
            return try slice.withReader(body)
        } catch {
            throw .body(error)
        }
    }

    /// Copies the value under `key` out (now, or as `snapshot` saw the database), or returns `nil`.
    /// - Throws: `RocksError`.
    public func get(_ family: ColumnFamily, key: [UInt8], at snapshot: RocksSnapshot? = nil) throws(RocksError) -> [UInt8]? {
        let slice = PinnedValue(handle: try self.pinnedValue(family, key: key, readOptions: snapshot?.readOptions))
        return slice.withReader { reader in reader.map { var r = $0; return r.readRemainingBytes() } }
    }

    func pinnedValue(_ family: ColumnFamily, key: [UInt8], readOptions: OpaquePointer? = nil) throws(RocksError)
        -> OpaquePointer?
    {
        try withBytes(key) { key throws(RocksError) in
            try withRocksError(operation: "get from '\(family.name)'", path: self.path) { error in
                rocksdb_get_pinned_cf(
                    self.handle, readOptions ?? self.readOptions, family.handle,
                    key.baseAddress?.assumingMemoryBound(to: CChar.self), key.count, error)
            }
        }
    }

    /// Flushes every column family's memtable to SST (and blob) files, waiting until done.
    /// - Throws: `RocksError` (e.g. `.noSpace`).
    public func flush() throws(RocksError) {
        let families = self.openFamilies
        let flushOptions = rocksdb_flushoptions_create()!
        defer { rocksdb_flushoptions_destroy(flushOptions) }
        rocksdb_flushoptions_set_wait(flushOptions, 1)
        for family in families {
            try withRocksError(operation: "flush '\(family.name)'", path: self.path) { error in
                rocksdb_flush_cf(self.handle, flushOptions, family.handle, error)
            }
        }
    }

    /// Compacts the whole key range of `family` down to the bottom level, blocking until done. Every value
    /// passes the compaction filter; merge operands are folded into values (which the next compaction filters).
    public func compact(_ family: ColumnFamily) {
        let options = rocksdb_compactoptions_create()!
        defer { rocksdb_compactoptions_destroy(options) }
        rocksdb_compactoptions_set_bottommost_level_compaction(options, 2)  // kForce: rewrite even a single file
        rocksdb_compact_range_cf_opt(self.handle, family.handle, options, nil, 0, nil, 0)
    }

    /// Blocks until no flush or compaction is running or pending (the 7.8.3 C API has no `WaitForCompact`, so
    /// this polls RocksDB's properties every 10 ms), for at most `timeout`.
    /// - Returns: Whether the database went quiet before the timeout.
    @discardableResult
    public func waitForBackgroundWork(timeout: Duration = .seconds(600)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        let busy = ["rocksdb.num-running-compactions", "rocksdb.num-running-flushes", "rocksdb.compaction-pending",
                    "rocksdb.mem-table-flush-pending"]
        while ContinuousClock.now < deadline {
            let active = self.openFamilies.contains { family in
                busy.contains { (self.integerProperty($0, family: family) ?? 0) > 0 }
            }
            if !active { return true }
            usleep(10_000)
        }
        return false
    }

    /// A RocksDB property (e.g. `rocksdb.estimate-num-keys`, `rocksdb.total-blob-file-size`), or `nil`.
    public func property(_ name: String, family: ColumnFamily? = nil) -> String? {
        let value: UnsafeMutablePointer<CChar>?
        if let family {
            value = rocksdb_property_value_cf(self.handle, family.handle, name)
        } else {
            value = rocksdb_property_value(self.handle, name)
        }
        guard let value else { return nil }
        defer { rocksdb_free(value) }
        return String(cString: value)
    }

    /// An integer RocksDB property, or `nil`.
    public func integerProperty(_ name: String, family: ColumnFamily? = nil) -> UInt64? {
        self.property(name, family: family).flatMap { UInt64($0) }
    }

    /// Bytes of the live SST and blob files of every column family: the state's size on disk, garbage in blob
    /// files not yet collected included.
    public func liveFileBytes() -> UInt64 {
        self.openFamilies.reduce(0) { sum, family in
            sum + (self.integerProperty("rocksdb.live-sst-files-size", family: family) ?? 0)
                + (self.integerProperty("rocksdb.live-blob-file-size", family: family) ?? 0)
        }
    }

    /// The database's statistics so far, or empty statistics when `RocksOptions.statistics` is off.
    public func statistics() -> RocksStatistics {
        guard let text = rocksdb_options_statistics_get_string(self.databaseOptions) else {
            return RocksStatistics(tickers: [:])
        }
        defer { rocksdb_free(text) }
        return RocksStatistics(parsing: String(cString: text))
    }

    /// Writes a consistent, openable copy of the database to `directory` (hard links for SST and blob files).
    /// - Precondition: `directory` does not exist; its parent does.
    /// - Throws: `RocksError`.
    public func createCheckpoint(at directory: String) throws(RocksError) {
        let checkpoint = try withRocksError(operation: "create checkpoint object", path: self.path) { error in
            rocksdb_checkpoint_object_create(self.handle, error)
        }
        guard let checkpoint else { return }
        defer { rocksdb_checkpoint_object_destroy(checkpoint) }
        try withRocksError(operation: "checkpoint to \(directory)", path: self.path) { error in
            rocksdb_checkpoint_create(checkpoint, directory, 0, error)
        }
    }
}

/// An error thrown by `RocksDatabase.withValue`: either RocksDB failed or the caller's closure threw.
public enum RocksKitOrBodyError<Body: Error>: Error {
    /// RocksDB failed to read.
    case rocks(RocksError)
    /// The closure threw.
    case body(Body)
}

/// Owns one `rocksdb_pinnableslice_t`: a value RocksDB keeps pinned until this is destroyed.
struct PinnedValue: ~Copyable {
    let handle: OpaquePointer?

    init(handle: OpaquePointer?) { self.handle = handle }

    deinit { if let handle { rocksdb_pinnableslice_destroy(handle) } }

    func withReader<R, E: Error>(_ body: (inout ByteReader?) throws(E) -> R) throws(E) -> R {
        guard let handle = self.handle else {
            var none: ByteReader? = nil
            return try body(&none)
        }
        var length = 0
        let pointer = rocksdb_pinnableslice_value(handle, &length)
        var reader: ByteReader? = ByteReader(unsafeBytes: UnsafeRawBufferPointer(start: pointer, count: length))
        return try body(&reader)
    }
}

/// `Array.withUnsafeBytes` with a typed error.
@inlinable
package func withBytes<R, E: Error>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
    let result: Result<R, E> = bytes.withUnsafeBytes { raw in
        do throws(E) { return .success(try body(raw)) } catch { return .failure(error) }
    }
    return try result.get()
}

extension RocksDatabase {
    /// Pauses or resumes automatic compactions of `family` (a bulk load pauses them while it adds level-0 files,
    /// so they do not compete with it for the CPU, and resumes them afterwards).
    /// - Throws: `RocksError` when RocksDB refuses the change.
    public func setAutomaticCompactions(_ enabled: Bool, family: ColumnFamily) throws(RocksError) {
        try self.setOption("disable_auto_compactions", enabled ? "false" : "true", family: family)
    }

    /// Changes one mutable option of the open database: of `family` (a column-family option), or of the database
    /// when `family` is `nil` (a DB option).
    /// - Throws: `RocksError` when RocksDB refuses the change.
    func setOption(_ name: String, _ value: String, family: ColumnFamily? = nil) throws(RocksError) {
        let key = strdup(name)
        let text = strdup(value)
        defer {
            free(key)
            free(text)
        }
        var keys: [UnsafePointer<CChar>?] = [UnsafePointer(key)]
        var values: [UnsafePointer<CChar>?] = [UnsafePointer(text)]
        let target = family.map { " of '\($0.name)'" } ?? ""
        try withRocksError(operation: "set \(name)\(target)", path: self.path) { error in
            if let family {
                rocksdb_set_options_cf(self.handle, family.handle, 1, &keys, &values, error)
            } else {
                rocksdb_set_options(self.handle, 1, &keys, &values, error)
            }
        }
    }
}
