import Foundation

/// A backend's part of a checkpoint whose synchronous part is done (`CheckpointedBackend.startSnapshot`), with
/// the rest — the upload of new RocksDB files, for the incremental strategy — running on the backend's background
/// thread meanwhile, the way Flink splits a snapshot into a synchronous and an asynchronous part. The owner thread
/// goes on processing; whoever acknowledges the checkpoint waits for the handle or is called back with it.
public final class PendingBackendSnapshot: @unchecked Sendable {
    /// The checkpoint.
    public let checkpointID: Int64
    private let condition = NSCondition()
    private var result: Result<BackendStateHandle, CheckpointError>?
    private var callbacks: [@Sendable (Result<BackendStateHandle, CheckpointError>) -> Void] = []

    /// A snapshot still running.
    init(checkpointID: Int64) {
        self.checkpointID = checkpointID
    }

    /// A snapshot that finished in its synchronous part.
    init(checkpointID: Int64, handle: BackendStateHandle) {
        self.checkpointID = checkpointID
        self.result = .success(handle)
    }

    /// Provides the outcome (once), then runs the callbacks on this thread.
    func finish(_ result: Result<BackendStateHandle, CheckpointError>) {
        self.condition.lock()
        precondition(self.result == nil, "snapshot \(self.checkpointID) finished twice")
        self.result = result
        let callbacks = self.callbacks
        self.callbacks = []
        self.condition.broadcast()
        self.condition.unlock()
        for callback in callbacks { callback(result) }
    }

    /// The outcome, if the snapshot has finished.
    public var current: Result<BackendStateHandle, CheckpointError>? {
        self.condition.lock()
        defer { self.condition.unlock() }
        return self.result
    }

    /// Waits for the snapshot and returns its handle.
    /// - Throws: `CheckpointError` from the asynchronous part; the checkpoint then fails and earlier ones stay
    ///   intact.
    public func wait() throws(CheckpointError) -> BackendStateHandle {
        self.condition.lock()
        while self.result == nil { self.condition.wait() }
        let result = self.result!
        self.condition.unlock()
        return try result.get()
    }

    /// Calls `body` with the outcome once the snapshot has finished: at once on this thread if it has, otherwise
    /// on the thread that finishes it. `body` must not block for long (it runs on the backend's background thread).
    public func whenFinished(_ body: @escaping @Sendable (Result<BackendStateHandle, CheckpointError>) -> Void) {
        self.condition.lock()
        guard let result = self.result else {
            self.callbacks.append(body)
            self.condition.unlock()
            return
        }
        self.condition.unlock()
        body(result)
    }
}
