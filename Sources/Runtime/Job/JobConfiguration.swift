import Checkpointing
import KeyedState
import RocksKit
import StateCore

/// How a job checkpoints, restores, restarts and moves data. Every field has the default a Flink user expects.
public struct JobConfiguration: Sendable {
    /// Checkpointing (nil: no checkpoints; sinks commit at the end of input only).
    public var checkpointing: CheckpointConfiguration?
    /// Where keyed state lives while the job runs (`<workingDirectory>/<vertex>-<subtask>`).
    public var workingDirectory: String
    /// The engine of every keyed operator's state. Default RocksDB with `RocksOptions.perOperator` (16 MiB memtables,
    /// 32 MiB block cache per backend: a job runs one backend per keyed subtask).
    public var engine: StateEngine
    /// Restart after a task failure.
    public var restartStrategy: RestartStrategy
    /// Restore from a checkpoint at start (`.latest` resumes a killed job).
    public var restore: RestoreSource
    /// With `restore: .empty`, delete the checkpoints already under the checkpoint root (holding its lock) before
    /// starting. Default false: a fresh start on a root that holds checkpoints is refused, never wiped silently.
    public var clearCheckpointRoot = false
    /// Failure injection for tests and benchmarks: called with (vertex, subtask, attempt, records the task took in)
    /// after every input buffer and source batch; `true` makes the task throw `InjectedFailure`.
    public var failureInjector: (@Sendable (String, Int, Int, Int) -> Bool)?
    /// Bytes per network buffer (records are batched into buffers). Default 32 KiB, as in Flink.
    public var bufferSize: Int
    /// Buffers a channel holds before its producer blocks (backpressure). Default 4 (measured: the same throughput
    /// as 8 with half the data an aligned barrier waits behind).
    public var channelCapacity: Int
    /// Shrinks the buffers producers send to a task so its queued input lasts about `target` (default 30 ms) at
    /// its measured throughput: aligned barriers then wait behind that much data instead of full channels. Default
    /// on; nil sends full `bufferSize` buffers always.
    public var bufferDebloating: BufferDebloating? = BufferDebloating()
    /// How long a partly filled buffer may wait before it is sent. Default 5 ms.
    public var bufferTimeout: Duration
    /// The default `maxParallelism` (number of key groups). Default 128.
    public var maxParallelism: Int
    /// Restore from the local copy of the last materialization when it is there (default), instead of fetching
    /// every file from the checkpoint root; and after a failure inside this process, roll each RocksDB backend
    /// back in place to the checkpoint restored (no fetch, no replay: only the keys changed since are rewritten).
    public var localRecovery = true
    /// The allocator arenas the process may keep while the job runs (`ProcessHeap.manage(arenas:)`; the
    /// `MALLOC_ARENA_MAX` environment variable wins), and the memory freed at each failed attempt's end and at the
    /// close of its databases is returned to the kernel (`ProcessHeap.releaseFreedPages()`). Default
    /// `Limits.heapArenas` (2); `nil` leaves the allocator alone. Without the cap, the one-hour soak's resident memory grew 1.86x (docs/benchmarks.md).
    public var heapArenas: Int? = Limits.heapArenas

    /// Creates a configuration.
    public init(
        checkpointing: CheckpointConfiguration? = nil, workingDirectory: String,
        engine: StateEngine = .rocksDB(.perOperator), restartStrategy: RestartStrategy = .fixedDelay(attempts: 3, delay: .milliseconds(200)),
        restore: RestoreSource = .empty, failureInjector: (@Sendable (String, Int, Int, Int) -> Bool)? = nil,
        bufferSize: Int = 32 * 1024, channelCapacity: Int = 4,
        bufferTimeout: Duration = .milliseconds(5), maxParallelism: Int = 128
    ) {
        self.checkpointing = checkpointing
        self.workingDirectory = workingDirectory
        self.engine = engine
        self.restartStrategy = restartStrategy
        self.restore = restore
        self.failureInjector = failureInjector
        self.bufferSize = bufferSize
        self.channelCapacity = channelCapacity
        self.bufferTimeout = bufferTimeout
        self.maxParallelism = maxParallelism
    }
}

/// When and how checkpoints are taken.
public struct CheckpointConfiguration: Sendable {
    /// The checkpoint root: a local directory, a mounted shared file system, or `s3://bucket/prefix` (object
    /// storage configured by `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
    public var directory: String
    /// Time between checkpoint triggers. Default 1 s.
    public var interval: Duration
    /// A checkpoint not complete after this long is aborted. Default 60 s.
    public var timeout: Duration
    /// The least time between the end of one checkpoint and the start of the next. Default 0.
    public var minimumPause: Duration
    /// Completed checkpoints kept. Default 1.
    public var retained: Int
    /// How keyed state is snapshotted. Default changelog.
    public var strategy: SnapshotStrategy
    /// Aligned, unaligned, or aligned with a timeout.
    public var alignment: AlignmentMode
    /// The file system the checkpoint root is written through. Default (`nil`): the local one, or for an
    /// `s3://` root the environment's object store (`ObjectStoreFileSystem.forPath`).
    public var fileSystem: (any CheckpointFileSystem)?

    /// Creates a configuration.
    public init(
        directory: String, interval: Duration = .seconds(1), timeout: Duration = .seconds(60),
        minimumPause: Duration = .zero, retained: Int = 1, strategy: SnapshotStrategy = .changelog(),
        alignment: AlignmentMode = .aligned, fileSystem: (any CheckpointFileSystem)? = nil
    ) {
        self.directory = directory
        self.interval = interval
        self.timeout = timeout
        self.minimumPause = minimumPause
        self.retained = retained
        self.strategy = strategy
        self.alignment = alignment
        self.fileSystem = fileSystem
    }
}

/// What happens when a task fails.
public enum RestartStrategy: Sendable, Hashable {
    /// Fail the job at the first failure.
    case none
    /// Restart from the latest completed checkpoint after `delay`, at most `attempts` times.
    case fixedDelay(attempts: Int, delay: Duration)
}

/// Which engine holds keyed state.
public enum StateEngine: Sendable {
    /// RocksDB, with these options.
    case rocksDB(RocksOptions = RocksOptions())
    /// Memory.
    case heap

    func backendEngine<Key>(for: Key.Type) -> CheckpointedBackend<Key>.Engine {
        switch self {
        case .rocksDB(let options): .rocksDB(options)
        case .heap: .heap
        }
    }
}

extension RocksOptions {
    /// RocksDB options for one keyed subtask of a job: 16 MiB memtables and a 32 MiB block cache (RocksDB's own
    /// defaults, 64 MiB each, multiply by every subtask and state). Measured with `weir-bench recovery`: peak RSS
    /// 231 → 130 MiB and no loss of throughput for the standard workload.
    public static var perOperator: RocksOptions {
        var options = RocksOptions()
        options.writeBufferBytes = 16 << 20
        options.blockCacheBytes = 32 << 20
        return options
    }
}
