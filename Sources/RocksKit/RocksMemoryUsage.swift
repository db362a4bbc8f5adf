/// What RocksDB holds in memory: of one database (`RocksDatabase.memoryUsage`), or summed over every database of
/// the process that is open now (`ofOpenDatabases`). The figures Flink exposes as
/// `state.backend.rocksdb.metrics.*`, for telling RocksDB's share of resident memory from the rest.
public struct RocksMemoryUsage: Sendable, Hashable {
    /// Databases counted.
    public var databases: Int
    /// Bytes of every memtable, active, immutable and pinned (`rocksdb.cur-size-all-mem-tables`, per family).
    public var memtableBytes: UInt64
    /// Bytes of the table readers: index and filter blocks held outside the block cache
    /// (`rocksdb.estimate-table-readers-mem`, per family).
    public var tableReaderBytes: UInt64
    /// Bytes in the block caches (`rocksdb.block-cache-usage`; one cache per database).
    public var blockCacheBytes: UInt64
    /// Bytes of the block caches pinned by readers (`rocksdb.block-cache-pinned-usage`).
    public var pinnedBlockCacheBytes: UInt64

    /// Nothing counted.
    public static let zero = RocksMemoryUsage(
        databases: 0, memtableBytes: 0, tableReaderBytes: 0, blockCacheBytes: 0, pinnedBlockCacheBytes: 0)

    /// Memtables, table readers and block caches together.
    public var totalBytes: UInt64 { self.memtableBytes + self.tableReaderBytes + self.blockCacheBytes }

    /// The sum over the databases open now. A database closing meanwhile waits for this to finish (one opened
    /// meanwhile may be left out).
    public static var ofOpenDatabases: RocksMemoryUsage { OpenDatabases.shared.memoryUsage() }

    /// Adds `other`'s figures to these.
    static func += (lhs: inout RocksMemoryUsage, rhs: RocksMemoryUsage) {
        lhs.databases += rhs.databases
        lhs.memtableBytes += rhs.memtableBytes
        lhs.tableReaderBytes += rhs.tableReaderBytes
        lhs.blockCacheBytes += rhs.blockCacheBytes
        lhs.pinnedBlockCacheBytes += rhs.pinnedBlockCacheBytes
    }
}

extension RocksDatabase {
    /// What this database holds in memory now (`.zero` once closed). Reads a few properties per column family.
    public var memoryUsage: RocksMemoryUsage {
        guard !self.isClosed else { return .zero }
        var usage = RocksMemoryUsage.zero
        usage.databases = 1
        for family in self.openFamilies {
            usage.memtableBytes += self.integerProperty("rocksdb.cur-size-all-mem-tables", family: family) ?? 0
            usage.tableReaderBytes += self.integerProperty("rocksdb.estimate-table-readers-mem", family: family) ?? 0
        }
        usage.blockCacheBytes = self.integerProperty("rocksdb.block-cache-usage") ?? 0
        usage.pinnedBlockCacheBytes = self.integerProperty("rocksdb.block-cache-pinned-usage") ?? 0
        return usage
    }
}
