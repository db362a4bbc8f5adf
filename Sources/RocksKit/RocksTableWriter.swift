import CRocksDB

/// Writes one SST file outside the database, in key order, for `RocksDatabase.ingest` to add in a single step:
/// RocksDB's `SstFileWriter`. Writing a sorted file directly skips the memtable, its sort and the flush, which is
/// the fast way to load many keys at once (restoring a changelog, say).
///
/// Entries must come in strictly increasing key order (byte-wise, as the database compares them), one entry per
/// key; range deletions may come in any order. Every entry of an ingested file gets the same sequence number,
/// newer than everything already in the database, and a range deletion in the file covers only older entries (so
/// a put in the same file survives a range deletion around it).
///
/// Invariants: after `finish()` or `discard()` the C writer is gone and every further call is a programmer error.
public final class RocksTableWriter {
    private var handle: OpaquePointer?
    private let options: OpaquePointer
    private let environment: OpaquePointer
    /// The file being written.
    public let path: String
    /// Entries (puts, merges, deletes and range deletions) written so far.
    public private(set) var entries = 0

    init(path: String, options: OpaquePointer) throws(RocksError) {
        self.path = path
        self.options = options
        self.environment = rocksdb_envoptions_create()
        self.handle = rocksdb_sstfilewriter_create(self.environment, options)
        do {
            try withRocksError(operation: "create the table file", path: path) { error in
                rocksdb_sstfilewriter_open(self.handle, path, error)
            }
        } catch {
            self.discard()
            throw error
        }
    }

    deinit { self.discard() }

    /// Writes `value` under `key`.
    /// - Throws: `RocksError` when the key is not after the previous one, or the file cannot be written.
    public func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws(RocksError) {
        try withRocksError(operation: "add a key to the table file", path: self.path) { error in
            rocksdb_sstfilewriter_put(
                self.handle, key.baseAddress?.assumingMemoryBound(to: CChar.self), key.count,
                value.baseAddress?.assumingMemoryBound(to: CChar.self), value.count, error)
        }
        self.entries += 1
    }

    /// Writes a merge operand under `key` (the family's merge operator folds it into older values).
    /// - Throws: `RocksError` as `put`.
    public func merge(key: UnsafeRawBufferPointer, operand: UnsafeRawBufferPointer) throws(RocksError) {
        try withRocksError(operation: "add a merge to the table file", path: self.path) { error in
            rocksdb_sstfilewriter_merge(
                self.handle, key.baseAddress?.assumingMemoryBound(to: CChar.self), key.count,
                operand.baseAddress?.assumingMemoryBound(to: CChar.self), operand.count, error)
        }
        self.entries += 1
    }

    /// Writes a deletion of `key`.
    /// - Throws: `RocksError` as `put`.
    public func delete(key: UnsafeRawBufferPointer) throws(RocksError) {
        try withRocksError(operation: "add a deletion to the table file", path: self.path) { error in
            rocksdb_sstfilewriter_delete(
                self.handle, key.baseAddress?.assumingMemoryBound(to: CChar.self), key.count, error)
        }
        self.entries += 1
    }

    /// Writes a deletion of every older key in `start ..< end`.
    /// - Throws: `RocksError` when the file cannot be written.
    public func deleteRange(start: [UInt8], end: [UInt8]) throws(RocksError) {
        try withBytes(start) { s throws(RocksError) in
            try withBytes(end) { e throws(RocksError) in
                try withRocksError(operation: "add a range deletion to the table file", path: self.path) { error in
                    rocksdb_sstfilewriter_delete_range(
                        self.handle, s.baseAddress?.assumingMemoryBound(to: CChar.self), s.count,
                        e.baseAddress?.assumingMemoryBound(to: CChar.self), e.count, error)
                }
            }
        }
        self.entries += 1
    }

    /// Completes the file (RocksDB refuses to finish a file without entries: check `entries` first).
    /// - Returns: The file's size in bytes.
    /// - Throws: `RocksError` when the file cannot be completed.
    @discardableResult
    public func finish() throws(RocksError) -> Int {
        defer { self.discard() }
        try withRocksError(operation: "finish the table file", path: self.path) { error in
            rocksdb_sstfilewriter_finish(self.handle, error)
        }
        var size: UInt64 = 0
        rocksdb_sstfilewriter_file_size(self.handle, &size)
        return Int(size)
    }

    /// Drops the writer (the partial file stays on disk for the caller to remove).
    public func discard() {
        guard let handle = self.handle else { return }
        self.handle = nil
        rocksdb_sstfilewriter_destroy(handle)
        rocksdb_envoptions_destroy(self.environment)
        rocksdb_options_destroy(self.options)
    }
}

extension RocksDatabase {
    /// A writer for an SST file at `path` with this database's table options (block size, bloom filter) and the
    /// given compression, for `ingest`.
    /// - Throws: `RocksError` when the file cannot be created.
    public func tableWriter(path: String, compression: Compression? = nil) throws(RocksError) -> RocksTableWriter {
        var filters: [CompactionFilterHandle] = []
        let options = Self.makeOptions(
            self.options, family: ColumnFamilyOptions(compression: compression), cache: self.blockCache,
            filters: &filters)
        return try RocksTableWriter(path: path, options: options)
    }

    /// Adds finished SST files to `family` in one step, moving (hard-linking) them into the database. The files
    /// must not overlap each other; together they are newer than everything in the family (a memtable they
    /// overlap is flushed first).
    /// - Throws: `RocksError` when RocksDB refuses a file; nothing is added then.
    public func ingest(_ family: ColumnFamily, files: [String]) throws(RocksError) {
        guard !files.isEmpty else { return }
        let options = rocksdb_ingestexternalfileoptions_create()!
        defer { rocksdb_ingestexternalfileoptions_destroy(options) }
        rocksdb_ingestexternalfileoptions_set_move_files(options, 1)
        let cPaths = files.map { strdup($0) }
        defer { cPaths.forEach { free($0) } }
        try withRocksError(operation: "ingest \(files.count) table file(s) into '\(family.name)'", path: self.path) {
            error in
            cPaths.map { $0.map { UnsafePointer($0) } }.withUnsafeBufferPointer { pointers in
                rocksdb_ingest_external_file_cf(
                    self.handle, family.handle, pointers.baseAddress, files.count, options, error)
            }
        }
    }
}
