import Checkpointing

/// How one attempt of a job started: what it restored, how long restore took, and when it processed its first
/// record. Times are milliseconds since 1970, so timelines of different processes (a job killed and restarted)
/// compare.
///
/// `JobExecution.timelines` holds one per attempt: when it failed, when every task had restored (with each
/// backend's fetch/open/replay), and when a keyed task processed its first record — what `weir-bench recovery`
/// reports.
public struct AttemptTimeline: Sendable {
    /// The attempt (0 first).
    public var attempt: Int
    /// The checkpoint it restored (nil: started empty).
    public var restoredCheckpoint: Int64?
    /// When the attempt started (before any task restored state).
    public var startedAt: Int64
    /// When every task had restored its state and was running.
    public var restoredAt: Int64?
    /// When the first record was processed by a task past the sources (by a source when the job has only those).
    public var firstRecordAt: Int64?
    /// When the attempt failed (nil: it did not).
    public var failedAt: Int64?
    /// Every keyed backend's restore, phase by phase.
    public var restores: [RestoreReport] = []
    /// Records the restored checkpoint's sources had emitted (the sum of their stored `next` positions).
    public var restoredSourceRecords = 0
    /// Records this attempt's sources had emitted when it failed.
    public var sourceRecordsAtFailure: Int?

    /// Creates a timeline.
    public init(attempt: Int, restoredCheckpoint: Int64?, startedAt: Int64) {
        self.attempt = attempt
        self.restoredCheckpoint = restoredCheckpoint
        self.startedAt = startedAt
    }
}
