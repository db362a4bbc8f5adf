/// What a source's `emit` call reports.
public enum SourceStatus: Sendable, Hashable {
    /// More records may follow at once.
    case more
    /// Nothing to emit before this runtime-clock time (rate limit, waiting for input).
    case idle(until: Duration)
    /// The source is exhausted.
    case finished
}

/// A source of records, run on its subtask's thread. The task takes checkpoints only between `emit` calls, never
/// while a record handed to `out` (or anything the operators chained behind the source emit for it) is in flight:
/// `out` may wait for room in a full channel (backpressure), but nothing else runs meanwhile. So `snapshotState`
/// describes the position after every record passed to `out` so far, and a restored job neither repeats nor
/// skips part of a record's output. While its outputs are full, the task calls `emit` with `limit` 1.
public protocol SourceFunction<Output>: AnyObject, SendableMetatype {
    /// The record type.
    associatedtype Output

    /// Emits up to `limit` records through `out`.
    func emit(limit: Int, into out: (Output) throws -> Void) throws -> SourceStatus
    /// The position to store in a checkpoint (small values, by name).
    func snapshotState() -> [String: String]
    /// Resumes from a stored position (empty: start from the beginning).
    func restore(_ state: [String: String]) throws
}

/// What a source factory knows about its subtask.
public struct SourceContext: Sendable {
    /// The subtask index.
    public let subtask: Int
    /// The vertex's parallelism.
    public let parallelism: Int
    /// The job attempt (0 for the first run, +1 for each restart).
    public let attempt: Int

    init(task: StreamTask) {
        self.subtask = task.subtask
        self.parallelism = task.parallelism
        self.attempt = task.attempt
    }
}

/// A sink: the end of a stream, chained into the task of the stream it ends.
public protocol SinkFunction<Input>: AnyObject, SendableMetatype {
    /// The record type.
    associatedtype Input

    /// Takes one record.
    func write(_ value: Input) throws
    /// A checkpoint's snapshot: pre-commit what was written since the last one and return the state to store
    /// (pending transactions).
    func snapshotState(checkpointID: Int64) throws -> [String: String]
    /// The checkpoint completed: commit what was pre-committed for it and before.
    func notifyCheckpointComplete(_ checkpointID: Int64) throws
    /// Restores stored state (commits transactions a completed checkpoint recorded, drops the rest): the state
    /// of this subtask, or after rescaling of every old subtask it takes over.
    func restore(_ states: [[String: String]]) throws
    /// The input ended (without checkpoints: commit everything).
    func finish() throws
    /// The task stops (after failure or at the end): release files.
    func close()
}

extension SinkFunction {
    /// No state.
    public func snapshotState(checkpointID: Int64) throws -> [String: String] { [:] }
    /// Nothing to commit.
    public func notifyCheckpointComplete(_ checkpointID: Int64) throws {}
    /// No state.
    public func restore(_ states: [[String: String]]) throws {}
    /// Nothing to do.
    public func finish() throws {}
    /// Nothing to release.
    public func close() {}
}

/// What a sink factory knows about its subtask.
public struct SinkContext: Sendable {
    /// The subtask index.
    public let subtask: Int
    /// The vertex's parallelism.
    public let parallelism: Int
    /// The vertex name.
    public let vertex: String
    /// The sink's name.
    public let name: String
    /// The job attempt (0 first).
    public let attempt: Int
    /// Whether checkpoints are taken (a transactional sink commits at checkpoints, else at the end).
    public let checkpointing: Bool

    init(task: StreamTask, name: String) {
        self.subtask = task.subtask
        self.parallelism = task.parallelism
        self.vertex = task.vertex.name
        self.name = name
        self.attempt = task.attempt
        self.checkpointing = task.execution.configuration.checkpointing != nil
    }
}
