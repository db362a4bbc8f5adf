import CRocksDB
import StateCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns one `rocksdb_t` and every C object configured for it (options, column family handles, compaction
/// filters). RocksDB synchronizes access to a database internally, so sharing it across threads is safe.
///
/// RocksKit is the only module that sees C. This class also owns the block cache and destroys every C object it
/// owns after `rocksdb_close`. `RocksIterator` and the pinned-value holder (`PinnedValue`) are `~Copyable`; an
/// iterator holds its database, so the database outlives it. Every `char** errptr` call goes through
/// `withRocksError`, which frees RocksDB's message and classifies it (`locked`, `missing`, `corruption`, `noSpace`,
/// `io`). The one way around this class is the package-only `rawHandles(_:)`: `weir-bench`'s reference loop calls
/// the C API exactly as a C program would, on a database opened with identical options.
///
/// Invariants:
/// 1. Every column family handed out stays valid until `close()`.
/// 2. After `close()` the C handle is gone and every operation is a programmer error.
public final class RocksDatabase: @unchecked Sendable {
    // @unchecked: RocksDB's DB object is thread-safe; the mutable Swift state (families, filters) sits behind
    // `registry`, and `handle` is immutable until close.
    let handle: OpaquePointer
    /// The database directory.
    public let path: String
    /// The options the database was opened with.
    public let options: RocksOptions
    let databaseOptions: OpaquePointer
    let blockCache: OpaquePointer
    let writeOptions: OpaquePointer
    let readOptions: OpaquePointer
    private let registry: Mutex<Registry>

    // @unchecked: holds C handles (options, filters); it is only touched under the `registry` mutex.
    struct Registry: @unchecked Sendable {
        var families: [String: ColumnFamily] = [:]
        var familyOptions: [OpaquePointer] = []
        var filters: [CompactionFilterHandle] = []
        /// Snapshots taken and not yet released, released at close.
        var snapshots: [ObjectIdentifier: RocksSnapshot] = [:]
        var closed = false
    }

    func register(_ snapshot: RocksSnapshot) {
        self.registry.withLock { $0.snapshots[ObjectIdentifier(snapshot)] = snapshot }
    }

    /// Removes `snapshot` from the open ones; false when it was released already (or the database closed).
    func unregister(_ snapshot: RocksSnapshot) -> Bool {
        self.registry.withLock { $0.snapshots.removeValue(forKey: ObjectIdentifier(snapshot)) != nil }
    }

    /// Opens (or creates) the database at `path` with the given column families.
    ///
    /// Families that exist on disk but are not named are opened with plain options; named families that do not
    /// exist are created.
    /// - Parameters:
    ///   - path: The database directory; with `createIfMissing`, it and its parents are created.
    ///   - options: Database-wide options.
    ///   - columnFamilies: Options per family name.
    /// - Throws: `RocksError` with `.locked`, `.missing`, `.corruption`, `.noSpace` or `.io`.
    public init(
        path: String,
        options: RocksOptions = RocksOptions(),
        columnFamilies: [String: ColumnFamilyOptions] = [:]
    ) throws(RocksError) {
        if options.createIfMissing {
            try Self.makeDirectories(path)
        }
        let cache = rocksdb_cache_create_lru(options.blockCacheBytes)!
        var filters: [CompactionFilterHandle] = []
        let dbOptions = Self.makeOptions(options, family: ColumnFamilyOptions(), cache: cache, filters: &filters)
        rocksdb_options_set_create_if_missing(dbOptions, options.createIfMissing ? 1 : 0)
        rocksdb_options_set_create_missing_column_families(dbOptions, 1)
        rocksdb_options_set_max_background_jobs(dbOptions, Int32(options.maxBackgroundJobs))
        if let flushes = options.maxBackgroundFlushes {
            rocksdb_options_set_max_background_flushes(dbOptions, Int32(max(flushes, 1)))
            rocksdb_options_set_max_background_compactions(dbOptions, Int32(max(options.maxBackgroundJobs - 1, 1)))
        }
        if options.statistics { rocksdb_options_enable_statistics(dbOptions) }

        var existing = (try? Self.listColumnFamilies(path: path)) ?? []
        if !existing.contains("default") { existing.insert("default", at: 0) }
        var names = existing
        for name in columnFamilies.keys.sorted() where !names.contains(name) { names.append(name) }

        let familyOptions: [OpaquePointer] = names.map { name in
            Self.makeOptions(
                options, family: columnFamilies[name] ?? ColumnFamilyOptions(), cache: cache, filters: &filters)
        }
        var handles = [OpaquePointer?](repeating: nil, count: names.count)
        let cNames = names.map { strdup($0) }
        defer { cNames.forEach { free($0) } }
        let openResult: Result<OpaquePointer?, RocksError> = Result { () throws(RocksError) in
          try withRocksError(operation: "open", path: path) { error in
            cNames.map { $0.map { UnsafePointer($0) } }.withUnsafeBufferPointer { namePointers in
                familyOptions.map { Optional($0) }.withUnsafeBufferPointer { optionPointers in
                    handles.withUnsafeMutableBufferPointer { handlePointers in
                        rocksdb_open_column_families(
                            dbOptions, path, Int32(names.count), namePointers.baseAddress,
                            optionPointers.baseAddress, handlePointers.baseAddress, error)
                    }
                }
            }
          }
        }
        guard case .success(let opened?) = openResult else {
            familyOptions.forEach { rocksdb_options_destroy($0) }
            rocksdb_options_destroy(dbOptions)
            rocksdb_cache_destroy(cache)
            if case .failure(let error) = openResult { throw error }
            throw RocksError(code: .other, message: "RocksDB open returned no database for \(path)", path: path)
        }
        self.handle = opened
        self.path = path
        self.options = options
        self.databaseOptions = dbOptions
        self.blockCache = cache
        self.writeOptions = rocksdb_writeoptions_create()
        rocksdb_writeoptions_disable_WAL(self.writeOptions, options.writeAheadLog ? 0 : 1)
        self.readOptions = rocksdb_readoptions_create()
        var registry = Registry()
        for (index, name) in names.enumerated() {
            guard let familyHandle = handles[index] else { continue }
            registry.families[name] = ColumnFamily(
                handle: familyHandle, name: name, id: rocksdb_column_family_handle_get_id(familyHandle))
        }
        registry.familyOptions = familyOptions
        registry.filters = filters
        self.registry = Mutex(registry)
        Self.configureCurrentThread()
        OpenDatabases.shared.add(self)
    }

    deinit {
        self.closeHandles()
        rocksdb_writeoptions_destroy(self.writeOptions)
        rocksdb_readoptions_destroy(self.readOptions)
        rocksdb_cache_destroy(self.blockCache)
    }

    /// The names of the column families stored at `path`.
    /// - Throws: `RocksError` (`.missing` when there is no database).
    public static func listColumnFamilies(path: String) throws(RocksError) -> [String] {
        let options = rocksdb_options_create()!
        defer { rocksdb_options_destroy(options) }
        var count = 0
        let list = try withRocksError(operation: "list column families", path: path) { error in
            rocksdb_list_column_families(options, path, &count, error)
        }
        guard let list else { return [] }
        defer { rocksdb_list_column_families_destroy(list, count) }
        return (0..<count).compactMap { list[$0].map { String(cString: $0) } }
    }

    /// Sets RocksDB's perf level to "count only" on the calling thread: the default level costs ~17 % per put.
    /// Call it on every thread that uses a database; opening a database does it for the opening thread.
    public static func configureCurrentThread() {
        rocksdb_set_perf_level(1)
    }

    /// The family called `name`, if it is open.
    public func columnFamily(named name: String) -> ColumnFamily? {
        self.registry.withLock { $0.families[name] }
    }

    /// The names of every open family.
    public var columnFamilyNames: [String] { self.registry.withLock { $0.families.keys.sorted() } }

    /// Creates a column family, or returns the open one with that name.
    /// - Parameters:
    ///   - name: The family's name.
    ///   - options: Its options (ignored if the family is already open).
    /// - Throws: `RocksError` if RocksDB refuses the family.
    public func createColumnFamily(named name: String, options: ColumnFamilyOptions) throws(RocksError)
        -> ColumnFamily
    {
        try self.registry.withLock { registry throws(RocksError) -> ColumnFamily in
            precondition(!registry.closed, "RocksDatabase used after close()")
            if let existing = registry.families[name] { return existing }
            let familyOptions = Self.makeOptions(
                self.options, family: options, cache: self.blockCache, filters: &registry.filters)
            let created = try withRocksError(operation: "create column family '\(name)'", path: self.path) {
                rocksdb_create_column_family(self.handle, familyOptions, name, $0)
            }
            registry.familyOptions.append(familyOptions)
            guard let created else {
                throw RocksError(code: .other, message: "no handle for family \(name)", path: self.path)
            }
            let family = ColumnFamily(handle: created, name: name, id: rocksdb_column_family_handle_get_id(created))
            registry.families[name] = family
            return family
        }
    }

    /// Flushes every memtable (unless the WAL is on) and closes the database. Idempotent.
    /// - Throws: `RocksError` if the final flush fails; the database is closed regardless.
    public func close() throws(RocksError) {
        var flushError: RocksError?
        if !self.options.writeAheadLog && !self.isClosed {
            do { try self.flush() } catch { flushError = error }
        }
        self.closeHandles()
        if let flushError { throw flushError }
    }

    /// Closes the database without flushing: with the WAL off, whatever is only in the memtables is lost. For a
    /// database whose directory is about to be rebuilt (the state of a failed attempt, restored from a checkpoint).
    ///
    /// RocksDB's own close flushes the memtables of a database written without WAL (`has_unpersisted_data`) unless
    /// `avoid_flush_during_shutdown` is set; setting it first makes the close drop them. The close still waits
    /// for a flush RocksDB is running (compactions stop at their next key).
    public func discard() {
        // A refusal only costs the flush the close then does.
        if !self.isClosed { try? self.setOption("avoid_flush_during_shutdown", "true") }
        self.closeHandles()
    }

    var openFamilies: [ColumnFamily] { self.registry.withLock { Array($0.families.values) } }

    /// Whether `close()` has run.
    public var isClosed: Bool { self.registry.withLock { $0.closed } }

    private func closeHandles() {
        OpenDatabases.shared.remove(self)  // first: a memory reading holding its lock finishes before the close
        let registry = self.registry.withLock { registry -> Registry? in
            guard !registry.closed else { return nil }
            registry.closed = true
            let copy = registry
            registry.families = [:]
            registry.familyOptions = []
            registry.filters = []
            registry.snapshots = [:]
            return copy
        }
        guard let registry else { return }
        for snapshot in registry.snapshots.values { rocksdb_release_snapshot(self.handle, snapshot.handle) }
        for family in registry.families.values { rocksdb_column_family_handle_destroy(family.handle) }
        rocksdb_close(self.handle)
        registry.familyOptions.forEach { rocksdb_options_destroy($0) }
        rocksdb_options_destroy(self.databaseOptions)
        _ = registry.filters  // destroyed after close: RocksDB does not own compaction filters
    }

    // MARK: Options

    static func makeOptions(
        _ options: RocksOptions,
        family: ColumnFamilyOptions,
        cache: OpaquePointer,
        filters: inout [CompactionFilterHandle]
    ) -> OpaquePointer {
        let made = rocksdb_options_create()!
        rocksdb_options_set_write_buffer_size(made, family.writeBufferBytes ?? options.writeBufferBytes)
        rocksdb_options_set_max_write_buffer_number(made, Int32(options.maxWriteBufferNumber))
        rocksdb_options_set_compression(made, (family.compression ?? options.compression).rocksValue)
        rocksdb_options_set_level_compaction_dynamic_level_bytes(
            made, options.levelCompactionDynamicLevelBytes ? 1 : 0)
        rocksdb_options_set_max_open_files(made, -1)
        rocksdb_options_set_bytes_per_sync(made, UInt64(max(options.bytesPerSync, 0)))
        if options.memtableBloomRatio > 0 {
            rocksdb_options_set_memtable_prefix_bloom_size_ratio(made, min(options.memtableBloomRatio, 0.25))
            rocksdb_options_set_memtable_whole_key_filtering(made, 1)
        }
        let table = rocksdb_block_based_options_create()!
        rocksdb_block_based_options_set_block_cache(table, cache)
        if options.bloomFilterBitsPerKey > 0 {
            rocksdb_block_based_options_set_filter_policy(
                table, rocksdb_filterpolicy_create_bloom(options.bloomFilterBitsPerKey))
        }
        rocksdb_options_set_block_based_table_factory(made, table)
        rocksdb_block_based_options_destroy(table)
        if let separation = family.valueSeparation {
            rocksdb_options_set_enable_blob_files(made, 1)
            rocksdb_options_set_min_blob_size(made, UInt64(separation.minBlobSize))
            rocksdb_options_set_blob_file_size(made, UInt64(separation.blobFileSize))
            rocksdb_options_set_blob_compression_type(made, separation.compression.rocksValue)
            rocksdb_options_set_enable_blob_gc(made, separation.garbageCollection ? 1 : 0)
            rocksdb_options_set_blob_gc_age_cutoff(made, separation.garbageCollectionAgeCutoff)
        }
        if let mergeOperator = family.mergeOperator {
            rocksdb_options_set_merge_operator(made, mergeOperator.makeHandle())
        }
        if let filter = family.compactionFilter {
            let filterHandle = CompactionFilterHandle(filter)
            filters.append(filterHandle)
            rocksdb_options_set_compaction_filter(made, filterHandle.handle)
        }
        return made
    }

    static func makeDirectories(_ path: String) throws(RocksError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                let reason = String(cString: strerror(errno))
                throw RocksError(
                    code: errno == ENOSPC ? .noSpace : .io,
                    message: "cannot create directory \(prefix) for the RocksDB database \(path): \(reason)",
                    path: path, rocksStatus: reason)
            }
            prefix += "/"
        }
    }
}

extension RocksDatabase {
    /// The C handles behind a database and one of its families, for the raw-C-API reference loops of
    /// `weir-bench` (which must call RocksDB exactly as a C program would, with identical options). Package-only:
    /// no library code outside RocksKit uses it.
    package struct RawHandles {
        /// `rocksdb_t*`.
        package let database: OpaquePointer
        /// `rocksdb_column_family_handle_t*`.
        package let family: OpaquePointer
        /// The database's `rocksdb_writeoptions_t*` (WAL as configured).
        package let writeOptions: OpaquePointer
        /// The database's `rocksdb_readoptions_t*`.
        package let readOptions: OpaquePointer
    }

    /// The raw handles for `family`; valid until `close()`.
    package func rawHandles(_ family: ColumnFamily) -> RawHandles {
        RawHandles(
            database: self.handle, family: family.handle, writeOptions: self.writeOptions,
            readOptions: self.readOptions)
    }
}
