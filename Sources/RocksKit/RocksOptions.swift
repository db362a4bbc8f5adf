/// Database-wide RocksDB options. Every field is explicit; the defaults are the ones Weir's state backend uses.
///
/// Measured reasons not given per field: the memtable Bloom filter (`memtableBloomRatio`) made the bare C loop of
/// `weir-bench recovery` 10 % faster (3 alternated pairs). With statistics off, the demo and `weir-bench state`
/// turn them on to report write amplification (`RocksStatistics.writeAmplification`: (flush + compaction bytes) /
/// bytes written). `bytesPerSync` has a counterpart outside RocksDB: checkpoint file copies `fdatasync` every
/// 1 MiB (`LocalFileSystem`), for the same reason. The perf level is set to "count only" on the opening thread
/// (`RocksDatabase.configureCurrentThread()` for every other thread). Key/value separation is per state
/// (`ValueSeparation`).
public struct RocksOptions: Sendable, Hashable {
    /// Create the database when the directory holds none. Default `true`. Parent folders are created too.
    public var createIfMissing: Bool
    /// The LRU block cache shared by every column family, in bytes. Default 64 MiB.
    public var blockCacheBytes: Int
    /// The default memtable size of a column family, in bytes. Default 64 MiB (RocksDB's default).
    public var writeBufferBytes: Int
    /// The most memtables a column family keeps (the active one and those waiting for a flush) before writes stop.
    /// Default 4: with RocksDB's 2, one slow flush of a column family taking 4 KiB values at ~65 MB/s (a blob
    /// file's worth of I/O beside the changelog's) stopped its writes, and so its task, for up to ~320 ms about
    /// once in 30 s; a memtable is only allocated as it fills, so the extra ones cost memory only while a flush
    /// is behind.
    public var maxWriteBufferNumber: Int
    /// The default block compression of SST files. Default LZ4: cheap to write, and Debian's build has it.
    public var compression: Compression
    /// Background jobs of a database. Default 2, the core count of the reference machine. With
    /// `maxBackgroundFlushes` `nil` RocksDB splits them (one flush, one compaction); otherwise compactions get
    /// this minus one (at least one) beside the flushes.
    public var maxBackgroundJobs: Int
    /// Flushes a database may run at once, or `nil` for RocksDB's share of `maxBackgroundJobs` (one of two; the
    /// other compacts). Default 2. RocksDB's flush threads are one pool for the whole process, as big as the
    /// largest value any open database asked for, so with one two subtasks' databases flush one after another.
    /// An incremental checkpoint flushes every column family while its task waits: with 2 its synchronous part was
    /// about a quarter shorter, and the changelog strategy's throughput was no lower (`weir-bench recovery
    /// --flush-threads`). Setting it fixes compactions at `maxBackgroundJobs` − 1 (at least one), RocksDB's split.
    public var maxBackgroundFlushes: Int?
    /// Bloom filter bits per key for point lookups; 0 turns filters off. Default 10 (about 1 % false positives).
    public var bloomFilterBitsPerKey: Double
    /// The size of each memtable's whole-key Bloom filter, as a fraction of the memtable size; 0 turns it off.
    /// Default 0.02. A point lookup of a key that is not in a memtable then skips that memtable's skip list
    /// (RocksDB's `memtable_prefix_bloom_size_ratio` with `memtable_whole_key_filtering`).
    public var memtableBloomRatio: Double
    /// Level sizes follow the last level's actual size, which bounds space amplification. Default `true`.
    public var levelCompactionDynamicLevelBytes: Bool
    /// Keep RocksDB statistics (bytes written, compaction and blob bytes) so write amplification can be read.
    /// Default `false`, as Flink leaves RocksDB's native statistics off: besides its counters, RocksDB 7.8 times
    /// every get and write with them on (its C API cannot lower the level), which cost the standard 100 B
    /// workload 7 % of its throughput and the bare C loop 10 %.
    public var statistics: Bool
    /// Write each change to RocksDB's write-ahead log. Default `false`: durability comes from checkpoints, as in
    /// Flink, and the backend flushes memtables before it closes.
    public var writeAheadLog: Bool
    /// Flush and compaction output is written back to disk every this many bytes instead of all at the file's end,
    /// so large background writes do not stall a foreground fsync (a checkpoint's). Default 1 MiB; 0 turns it off.
    public var bytesPerSync: Int

    /// Creates options with the documented defaults.
    public init(
        createIfMissing: Bool = true,
        blockCacheBytes: Int = 64 << 20,
        writeBufferBytes: Int = 64 << 20,
        maxWriteBufferNumber: Int = 4,
        compression: Compression = .lz4,
        maxBackgroundJobs: Int = 2,
        maxBackgroundFlushes: Int? = 2,
        bloomFilterBitsPerKey: Double = 10,
        memtableBloomRatio: Double = 0.02,
        levelCompactionDynamicLevelBytes: Bool = true,
        statistics: Bool = false,
        writeAheadLog: Bool = false,
        bytesPerSync: Int = 1 << 20
    ) {
        self.createIfMissing = createIfMissing
        self.blockCacheBytes = blockCacheBytes
        self.writeBufferBytes = writeBufferBytes
        self.maxWriteBufferNumber = maxWriteBufferNumber
        self.compression = compression
        self.maxBackgroundJobs = maxBackgroundJobs
        self.maxBackgroundFlushes = maxBackgroundFlushes
        self.bloomFilterBitsPerKey = bloomFilterBitsPerKey
        self.memtableBloomRatio = memtableBloomRatio
        self.levelCompactionDynamicLevelBytes = levelCompactionDynamicLevelBytes
        self.statistics = statistics
        self.writeAheadLog = writeAheadLog
        self.bytesPerSync = bytesPerSync
    }
}
