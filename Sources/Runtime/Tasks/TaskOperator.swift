import Checkpointing

/// The checkpoint and lifecycle hooks of one operator in a task's chain.
protocol TaskOperator: AnyObject {
    /// The operator's name (its state keys are prefixed with it).
    var name: String { get }
    /// Synchronous part of a snapshot: small state by name, and a keyed backend's snapshot (its asynchronous part
    /// may still run).
    func snapshot(checkpointID: Int64) throws -> (state: [String: String], backend: PendingBackendSnapshot?)
    /// The checkpoint completed.
    func complete(checkpointID: Int64) throws
    /// The checkpoint was given up.
    func abort(checkpointID: Int64)
    /// The input ended (flush, commit without checkpoints).
    func finish() throws
    /// Event time advanced (keyed operators fire timers).
    func advanceWatermark(to watermark: Int64) throws
    /// The earliest processing-time timer (milliseconds since 1970), if any.
    var nextProcessingTimer: Int64? { get }
    /// The wall clock reached `now`: fire processing-time timers.
    func onProcessingTime(_ now: Int64) throws
    /// The task stops.
    func close()
    /// The task stops because its attempt failed: keep what the next attempt can reuse (local rollback), close
    /// the rest.
    func park()
    /// Bytes of keyed state (for statistics), if the operator has any.
    var stateBytes: Int { get }
}

extension TaskOperator {
    func complete(checkpointID: Int64) throws {}
    func abort(checkpointID: Int64) {}
    func finish() throws {}
    func advanceWatermark(to watermark: Int64) throws {}
    var nextProcessingTimer: Int64? { nil }
    func onProcessingTime(_ now: Int64) throws {}
    func close() {}
    func park() { self.close() }
    var stateBytes: Int { 0 }
}

/// A source's hooks.
final class SourceHooks<S: SourceFunction>: TaskOperator {
    let name: String
    let source: S
    init(name: String, source: S) {
        self.name = name
        self.source = source
    }
    func snapshot(checkpointID: Int64) throws -> (state: [String: String], backend: PendingBackendSnapshot?) {
        (self.source.snapshotState(), nil)
    }
}

/// A sink's hooks.
final class SinkHooks<S: SinkFunction>: TaskOperator {
    let name: String
    let sink: S
    init(name: String, sink: S) {
        self.name = name
        self.sink = sink
    }
    func snapshot(checkpointID: Int64) throws -> (state: [String: String], backend: PendingBackendSnapshot?) {
        (try self.sink.snapshotState(checkpointID: checkpointID), nil)
    }
    func complete(checkpointID: Int64) throws { try self.sink.notifyCheckpointComplete(checkpointID) }
    func finish() throws { try self.sink.finish() }
    func close() { self.sink.close() }
}
