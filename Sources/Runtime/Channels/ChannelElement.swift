/// A checkpoint barrier: the checkpoint's id and when the coordinator triggered it (runtime clock).
public struct CheckpointBarrier: Sendable, Hashable {
    /// The checkpoint.
    public var checkpointID: Int64
    /// When the coordinator triggered it, on `RuntimeClock`.
    public var triggeredAt: Duration
    /// The final checkpoint after every source ended: always aligned, so no record is left in flight after it.
    public var isFinal = false
    /// The job stops once this checkpoint completes (`JobExecution.stop()`): final like the last checkpoint of
    /// a bounded job (aligned, nothing in flight after it), but the sources stop emitting at the barrier instead
    /// of ending, and every task exits on its completion without finishing its operators (no end-of-input flush,
    /// no watermark to the end of time), so a restore from it reprocesses nothing and loses nothing.
    public var stopsJob = false

    /// A barrier of checkpoint `checkpointID`, triggered at `triggeredAt`.
    package init(checkpointID: Int64, triggeredAt: Duration, isFinal: Bool = false, stopsJob: Bool = false) {
        self.checkpointID = checkpointID
        self.triggeredAt = triggeredAt
        self.isFinal = isFinal
        self.stopsJob = stopsJob
    }
}

/// What travels on a channel: buffers of serialized records, barriers, watermarks, the end of input.
enum ChannelElement: Sendable {
    /// Serialized records, concatenated (serializers are self-delimiting).
    case buffer([UInt8])
    /// A checkpoint barrier.
    case barrier(CheckpointBarrier)
    /// Event time has reached the timestamp on this channel.
    case watermark(Int64)
    /// The producer finished; nothing follows.
    case endOfInput

    var isBuffer: Bool {
        if case .buffer = self { return true }
        return false
    }
}

/// The runtime's monotonic clock: durations since the process started.
enum RuntimeClock {
    private static let start = ContinuousClock.now
    /// Now, as a duration since the process started.
    static var now: Duration { ContinuousClock.now - start }
}
