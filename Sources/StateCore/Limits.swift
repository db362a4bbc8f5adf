/// Every bound Weir enforces, with the reason for its value. `LimitsTests` checks how they relate.
public enum Limits {
    /// The largest `maxParallelism`: key groups are stored as 2 big-endian bytes in every RocksDB key, and Flink
    /// uses the same bound (32768), so savepoints map one to one.
    public static let maxParallelismMax = 32_768
    /// The default number of key groups (Flink's default for small jobs).
    public static let maxParallelismDefault = 128
    /// The longest state name: it becomes a RocksDB column family name and a file-name component.
    public static let stateNameBytesMax = 200
    /// The most states one backend registers: each is a column family with its own memtable.
    public static let statesPerBackendMax = 1_000
    /// The largest serialized key, namespace or value accepted: one RocksDB slice, and a changelog record must
    /// hold it with room to spare below 4 GiB offsets.
    public static let valueBytesMax = 1 << 30
    /// The longest TTL: TTL timestamps are milliseconds in an Int64 and must not overflow when added.
    public static let timeToLiveMillisecondsMax: Int64 = 1 << 52
    /// The longest single sleep (seconds) of a thread waiting on a `Monitor` (the channels, the coordinator)
    /// before it re-checks its predicate: a safety net, since every change it waits for also signals.
    public static let channelWaitSlice = 0.05
    /// The same safety net for threads that are idle most of the time (worker threads, promises, database
    /// retirement), which used to wait without one.
    public static let idleWaitSlice = 1.0
    /// Records a source emits per call while its outputs have room; under backpressure it emits one at a time,
    /// so a checkpoint waits for at most one record's fan-out.
    public static let sourceBatchRecords = 256
    /// Records a keyed operator processes between two polls of its backend's materialization (at a record
    /// boundary, never inside a state access).
    public static let materializationPollRecords = 1_024
    /// How long after a restore that continues a changelog tail its backend materializes (or after the interval,
    /// if shorter): the restore inherits the tail's materialization debt instead of waiting a whole interval, so
    /// failures more frequent than the interval cannot starve materialization. The delay lets the restarted job
    /// catch up before the materialization's flush and upload run beside it.
    public static let materializationAfterRestore = Duration.seconds(5)

    /// Arenas glibc's allocator may keep (`ProcessHeap.manage(arenas:)`), unless `MALLOC_ARENA_MAX` is set. By default
    /// glibc gives up to 8 per core, each up to 64 MiB, and a task thread of every new attempt may fill another:
    /// the one-hour soak with a failure every 3 minutes grew resident memory 1.86x, mostly freed memory that
    /// arenas kept.
    public static let heapArenas = 2

    /// Blocks of at least this size get an mmap of their own, returned to the kernel when freed
    /// (`ProcessHeap.manage(arenas:)`, unless `MALLOC_MMAP_THRESHOLD_` is set). glibc starts at 128 KiB and
    /// raises the threshold to the size of each large block freed, up to 32 MiB: RocksDB's memtable blocks and
    /// the changelog's megabyte buffers then come from the arenas, and what they free stays resident until a trim.
    /// With it fixed at 1 MiB, resident memory stayed within 35–57 MiB of the bytes in use in a soak with a failure
    /// every 30 s, against up to 184 MiB before.
    public static let heapMmapThreshold = 1 << 20

    /// Changelog bytes from which a RocksDB restore replays through table files (below it, the compactor's
    /// collapsed writes into the memtable are as fast and make no files).
    public static let tableReplayBytes = 4 << 20
    /// Section bytes of table-file chunks per process: each replay running gets an equal share (one chunk is
    /// gathered while the one before is written; keys and sort entries add about as much again at 100 B values,
    /// so replays take about 3× this at their peak).
    public static let tableReplayChunkBudget = 64 << 20
    /// Writes per RocksDB write batch when a local rollback or its deferred keys write state back.
    public static let rollbackBatchWrites = 4_096
}
