/// The checkpoint coordinator's decisions as a pure state machine: events in (a task ready, a source finished, a
/// stop request, an acknowledgement, a checkpoint's end), one action out per `nextAction(now:)`. It holds no lock,
/// thread or storage; `CheckpointCoordinator` owns one under its condition and performs what it returns, so every
/// rule (one checkpoint in flight, the interval, the minimum pause, the timeout, stale acknowledgements, the final
/// and the stopping checkpoint) is unit-tested on its own (`CheckpointSchedulerTests`).
///
/// Rules:
/// - Nothing is triggered until every task is ready, and only one checkpoint is in flight.
/// - The next checkpoint is due at `max(last end + minimumPause, last trigger + interval)`.
/// - Once every source finished, the final checkpoint is triggered at once (aligned, nothing in flight after it);
///   after it completes nothing more is triggered.
/// - After `requestStop()`, the next checkpoint (once the one in flight ended) is triggered at once and stops the
///   job; if it aborts, the next one does.
/// - A pending checkpoint completes when every task acknowledged it and aborts when `timeout` passed since its
///   trigger; an acknowledgement of another checkpoint (aborted, or from an earlier attempt) is dropped.
package struct CheckpointScheduler<Acknowledgement: Sendable>: Sendable {
    /// The checkpoint in flight.
    package struct Pending: Sendable {
        /// The checkpoint.
        package var id: Int64
        /// When it was triggered, on `RuntimeClock`.
        package var triggeredAt: Duration
        /// The final checkpoint (every source finished) or the stopping one.
        package var isFinal: Bool
        /// Its completion stops the job (`requestStop()`).
        package var stopsJob: Bool
        /// The acknowledgements so far.
        package var acknowledgements: [Acknowledgement] = []
    }

    /// What the coordinator does next.
    package enum Action: Sendable {
        /// Send this barrier to the sources; the checkpoint is now pending.
        case trigger(CheckpointBarrier)
        /// Every task acknowledged: publish the metadata, then report `ended(_:completed:at:)`.
        case complete(Pending)
        /// The checkpoint timed out: abort it, then report `ended(_:completed:at:)`.
        case abort(Pending, reason: String)
        /// Nothing to do until `deadline` (nil: until an event).
        case wait(until: Duration?)
        /// Stopped: the coordinator's thread ends.
        case exit
    }

    /// Time between triggers.
    package let interval: Duration
    /// The least time between a checkpoint's end and the next trigger.
    package let minimumPause: Duration
    /// A pending checkpoint older than this aborts.
    package let timeout: Duration
    /// Tasks that must be ready and acknowledge each checkpoint.
    package let tasks: Int
    /// Source tasks: once all of them finished, the final checkpoint is due.
    package let sources: Int
    /// The ID the next trigger takes.
    package private(set) var nextID: Int64
    /// The checkpoint in flight.
    package private(set) var pending: Pending?
    /// `stop()` was called.
    package private(set) var isStopped = false
    /// The final (or stopping) checkpoint completed: nothing more is triggered.
    package private(set) var finalCompleted = false
    private var lastEnd: Duration
    private var lastTrigger: Duration
    private var readyTasks = 0
    private var finishedSources = 0
    private var stopRequested = false

    /// A scheduler whose first checkpoint is `firstID`, started at `now` (the first trigger is due one interval
    /// later, or `minimumPause` if that is longer).
    package init(
        interval: Duration, minimumPause: Duration, timeout: Duration, tasks: Int, sources: Int, firstID: Int64,
        now: Duration
    ) {
        self.interval = interval
        self.minimumPause = minimumPause
        self.timeout = timeout
        self.tasks = tasks
        self.sources = sources
        self.nextID = firstID
        self.lastEnd = now
        self.lastTrigger = now
    }

    /// A task finished restoring and runs.
    package mutating func taskReady() { self.readyTasks += 1 }

    /// A source task is exhausted.
    package mutating func sourceFinished() { self.finishedSources += 1 }

    /// Stop the job with the next checkpoint (see the type's rules).
    package mutating func requestStop() { self.stopRequested = true }

    /// Records a task's acknowledgement of `checkpointID`; false (and dropped) unless that checkpoint is pending.
    @discardableResult
    package mutating func acknowledge(_ acknowledgement: Acknowledgement, checkpointID: Int64) -> Bool {
        guard self.pending?.id == checkpointID else { return false }
        self.pending?.acknowledgements.append(acknowledgement)
        return true
    }

    /// A checkpoint handed out by `.complete` or `.abort` ended at `end`: published (`completed`) or given up.
    package mutating func ended(_ checkpoint: Pending, completed: Bool, at end: Duration) {
        self.lastEnd = end
        if completed && checkpoint.isFinal { self.finalCompleted = true }
    }

    /// Stops the scheduler; returns the pending checkpoint, which the caller aborts.
    package mutating func stop() -> Pending? {
        self.isStopped = true
        defer { self.pending = nil }
        return self.pending
    }

    /// The next action at `now`. `.complete`, `.abort` and `.trigger` change the state (the pending checkpoint is
    /// handed out or created); `.wait` and `.exit` do not.
    package mutating func nextAction(now: Duration) -> Action {
        if self.isStopped { return .exit }
        if let pending = self.pending {
            if pending.acknowledgements.count == self.tasks {
                self.pending = nil
                return .complete(pending)
            }
            if now - pending.triggeredAt >= self.timeout {
                self.pending = nil
                var given = pending
                given.acknowledgements.removeAll()
                return .abort(given, reason: "not complete after \(self.timeout)")
            }
            return .wait(until: pending.triggeredAt + self.timeout)  // each acknowledgement is an event
        }
        // After the final checkpoint the tasks end their output; another checkpoint would race them closing.
        if self.finalCompleted || self.readyTasks < self.tasks { return .wait(until: nil) }
        let allFinished = self.sources > 0 && self.finishedSources == self.sources
        let stops = self.stopRequested && !allFinished
        let due = max(self.lastEnd + self.minimumPause, self.lastTrigger + self.interval)
        guard now >= due || allFinished || stops else { return .wait(until: due) }
        let barrier = CheckpointBarrier(
            checkpointID: self.nextID, triggeredAt: now, isFinal: allFinished || stops, stopsJob: stops)
        self.pending = Pending(id: self.nextID, triggeredAt: now, isFinal: barrier.isFinal, stopsJob: stops)
        self.nextID += 1
        self.lastTrigger = now
        return .trigger(barrier)
    }
}
