import Checkpointing
import Foundation
import StateCore
import Synchronization

/// Triggers checkpoints at the configured interval (one in flight, a minimum pause between them), collects every
/// task's acknowledgement, publishes the metadata, then tells every task the checkpoint completed. A checkpoint
/// not complete within the timeout is aborted: its folder is removed and tasks drop what they recorded.
///
/// One thread that performs a `CheckpointScheduler`'s actions: the rules live there, as a pure state machine, and
/// this type holds the thread, the condition, storage and the statistics. An acknowledgement carries backend
/// handles, task state and a channel-state file; a task sends it from the thread that finishes its backends'
/// asynchronous parts, and a failed part posts the error to the task, which fails. After the publish, `complete` goes to every task, sinks first. Backends keep the files of an
/// acknowledged snapshot live until that notification (a materialization finishing in between must not release
/// them); the changelog truncates on completion. On a task failure `stop()` first finishes a publish in progress.
///
/// Graceful stop (`JobExecution.stop()`; SIGINT/SIGTERM in `weir run`): `requestStop()` asks for one more
/// checkpoint at once, after the one in flight. Its barrier (`CheckpointBarrier.stopsJob`, aligned like a final
/// one) stops each source where it is, and on its completion every task, sinks first, commits and exits without
/// finishing its operators (no end-of-input flush or watermark to the end of time, which would emit output the
/// checkpoint does not cover). If it aborts, another is triggered; a failure restarts the job and the new attempt
/// stops the same way. `JobExecution.Result.stoppedAt` names it; a restore from it reprocesses nothing
/// (`GracefulStopTests`).
final class CheckpointCoordinator: Sendable {
    private typealias Scheduler = CheckpointScheduler<TaskAcknowledgement>
    private let storage: CheckpointStorage
    private unowned let attempt: JobAttempt
    /// The scheduler, signalled on every event it waits for.
    private let monitor: Monitor<Scheduler>
    private let exited = DispatchSemaphore(value: 0)
    /// The coordinator's thread (so `stop()` from that thread does not wait for itself).
    private let thread = Mutex<ObjectIdentifier?>(nil)

    init(configuration: CheckpointConfiguration, storage: CheckpointStorage, attempt: JobAttempt, firstID: Int64) {
        self.storage = storage
        self.attempt = attempt
        self.monitor = Monitor(Scheduler(
            interval: configuration.interval, minimumPause: configuration.minimumPause, timeout: configuration.timeout,
            tasks: attempt.tasks.reduce(0) { $0 + $1.count },
            sources: attempt.tasks.filter { $0.first?.vertex.isSource ?? false }.reduce(0) { $0 + $1.count },
            firstID: firstID, now: RuntimeClock.now))
    }

    /// Starts the coordinator thread.
    func start() {
        let thread = Thread { [self] in
            self.loop()
            self.exited.signal()
        }
        self.thread.withLock { $0 = ObjectIdentifier(thread) }
        thread.name = "weir-coordinator"
        thread.start()
    }

    /// Stops triggering, waits for a publish in progress (its files must stay), and aborts a pending checkpoint.
    func stop() {
        let (first, pending) = self.monitor.withLock { scheduler in (!scheduler.isStopped, scheduler.stop()) }
        guard first else { return }
        // From the coordinator's own thread (a checkpoint callback cancelling the job) there is nothing to wait for.
        if let thread = self.thread.withLock({ $0 }), thread != ObjectIdentifier(Thread.current) {
            self.exited.wait()
        }
        if let pending { self.storage.abort(pending.id) }
    }

    /// A task finished restoring and runs.
    func taskReady() { self.monitor.withLock { $0.taskReady() } }

    /// A source is exhausted: once all are, the final checkpoint is triggered at once.
    func sourceFinished() { self.monitor.withLock { $0.sourceFinished() } }

    /// Stops the job with a checkpoint: once the one in flight (if any) ends, a checkpoint is triggered at once
    /// whose barrier stops the sources and whose completion ends every task (`CheckpointBarrier.stopsJob`).
    /// If it aborts, another is triggered. Does nothing after every source finished (the final checkpoint of
    /// the bounded input then ends the job the same way).
    func requestStop() { self.monitor.withLock { $0.requestStop() } }

    /// A task's part of a checkpoint is durable (dropped unless that checkpoint is pending).
    func acknowledge(_ acknowledgement: TaskAcknowledgement) {
        self.monitor.withLock { _ = $0.acknowledge(acknowledgement, checkpointID: acknowledgement.checkpointID) }
    }

    /// Performs the scheduler's actions until it exits, sleeping on the monitor while it waits (until its
    /// deadline or an event; the lock is not held while an action runs).
    private func loop() {
        var previous = CheckpointPieces(self.storage.latest)
        while true {
            var now = Duration.zero
            let action = self.monitor.waiting { scheduler -> Monitor<Scheduler>.Step<Scheduler.Action> in
                now = RuntimeClock.now
                let action = scheduler.nextAction(now: now)
                guard case .wait(let deadline) = action else { return .done(action, signal: false) }
                return .wait(seconds: deadline.map { ($0 - now) / .seconds(1) })
            }
            switch action {
            case .exit, .wait:  // `.wait` never leaves the monitor
                return
            case .trigger(let barrier):
                RuntimeLog.logger.trace(
                    "triggering checkpoint \(barrier.checkpointID)",
                    metadata: ["final": "\(barrier.isFinal)", "stopsJob": "\(barrier.stopsJob)"])
                self.attempt.trigger(barrier, final: barrier.isFinal)
            case .complete(let pending):
                self.complete(pending, now: now, previous: &previous)
            case .abort(let pending, let reason):
                self.abort(pending, reason: reason, now: now)
            }
        }
    }

    private func complete(_ pending: Scheduler.Pending, now: Duration, previous: inout CheckpointPieces) {
        let acknowledgements = pending.acknowledgements.sorted { ($0.task.vertex, $0.task.subtask) < ($1.task.vertex, $1.task.subtask) }
        let metadata = CheckpointMetadata(
            checkpointID: pending.id, timestampMilliseconds: SystemStateClock().nowMilliseconds(),
            backends: acknowledgements.flatMap(\.backends), tasks: acknowledgements.map(\.task))
        let publishStart = RuntimeClock.now
        do {
            try self.storage.publish(metadata)
        } catch {
            self.abort(pending, reason: "publishing the metadata failed: \(error.message)", now: now)
            return
        }
        let end = RuntimeClock.now
        let pieces = CheckpointPieces(metadata)
        let statistics = CheckpointStatistics(
            checkpointID: pending.id, status: .completed, endToEnd: end - pending.triggeredAt,
            maxStartDelay: acknowledgements.map(\.startDelay).max() ?? .zero,
            maxSynchronous: acknowledgements.map(\.synchronous).max() ?? .zero,
            maxAsynchronous: acknowledgements.map(\.asynchronous).max() ?? .zero,
            maxAlignment: acknowledgements.map(\.alignment).max() ?? .zero, publish: end - publishStart,
            unaligned: acknowledgements.contains { $0.unaligned },
            inflightBytes: acknowledgements.reduce(0) { $0 + $1.task.inflightBytes },
            checkpointedBytes: pieces.bytesNotIn(previous), stateBytes: pieces.total)
        previous = pieces
        RuntimeLog.logger.debug(
            "checkpoint \(pending.id) completed in \(statistics.endToEnd)",
            metadata: [
                "checkpoint": "\(pending.id)", "checkpointedBytes": "\(statistics.checkpointedBytes)",
                "stateBytes": "\(statistics.stateBytes)", "unaligned": "\(statistics.unaligned)",
            ])
        self.monitor.withLock { $0.ended(pending, completed: true, at: end) }
        self.attempt.checkpointCompleted(statistics)
    }

    private func abort(_ pending: Scheduler.Pending, reason: String, now: Duration) {
        RuntimeLog.logger.debug("checkpoint \(pending.id) aborted: \(reason)", metadata: ["checkpoint": "\(pending.id)"])
        self.storage.abort(pending.id)
        let end = RuntimeClock.now
        self.monitor.withLock { $0.ended(pending, completed: false, at: end) }
        self.attempt.checkpointAborted(CheckpointStatistics(
            checkpointID: pending.id, status: .aborted, endToEnd: now - pending.triggeredAt, maxStartDelay: .zero,
            maxSynchronous: .zero, maxAsynchronous: .zero, maxAlignment: .zero, publish: .zero, unaligned: false,
            inflightBytes: 0, checkpointedBytes: 0, stateBytes: 0, failure: reason))
    }
}
