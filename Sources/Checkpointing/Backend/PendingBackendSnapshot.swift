/// A backend's part of a checkpoint whose synchronous part is done (`CheckpointedBackend.startSnapshot`), with
/// the rest — the upload of new RocksDB files, for the incremental strategy — running on the backend's background
/// thread meanwhile, the way Flink splits a snapshot into a synchronous and an asynchronous part. The owner thread
/// goes on processing; whoever acknowledges the checkpoint waits for the handle or is called back with it.
///
/// The next snapshot, a completion or abort notice and `close` first wait for the upload and adopt it, so at most
/// one runs per backend and the next snapshot reuses its files.
public final class PendingBackendSnapshot: Sendable {
    /// The outcome, and the upload behind a successful incremental snapshot (for its backend to adopt).
    typealias Outcome = (result: Result<BackendStateHandle, CheckpointError>, upload: MaterializationResult?)

    /// The checkpoint.
    public let checkpointID: Int64
    private let outcome = Promise<Outcome>()

    /// A snapshot still running.
    init(checkpointID: Int64) {
        self.checkpointID = checkpointID
    }

    /// A snapshot that finished in its synchronous part.
    convenience init(checkpointID: Int64, handle: BackendStateHandle) {
        self.init(checkpointID: checkpointID)
        self.outcome.fulfill((.success(handle), nil))
    }

    /// Provides the outcome (once) and the upload behind it, then runs the callbacks on this thread.
    func finish(_ result: Result<BackendStateHandle, CheckpointError>, upload: MaterializationResult? = nil) {
        self.outcome.fulfill((result, upload))
    }

    /// The outcome, if the snapshot has finished.
    public var current: Result<BackendStateHandle, CheckpointError>? { self.outcome.current?.result }

    /// Waits for the snapshot and returns its handle.
    /// - Throws: `CheckpointError` from the asynchronous part; the checkpoint then fails and earlier ones stay
    ///   intact.
    public func wait() throws(CheckpointError) -> BackendStateHandle {
        try self.outcome.wait().result.get()
    }

    /// The outcome and the upload behind it once the snapshot has finished (waiting for it when `waiting`), or
    /// nil while it runs.
    func outcome(waiting: Bool) -> Outcome? {
        waiting ? self.outcome.wait() : self.outcome.current
    }

    /// Calls `body` with the outcome once the snapshot has finished: at once on this thread if it has, otherwise
    /// on the thread that finishes it. `body` must not block for long (it runs on the backend's background thread).
    public func whenFinished(_ body: @escaping @Sendable (Result<BackendStateHandle, CheckpointError>) -> Void) {
        self.outcome.whenFulfilled { body($0.result) }
    }
}
