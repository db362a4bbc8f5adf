import Checkpointing
import Foundation
import StateCore

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
final class CheckpointCoordinator: @unchecked Sendable {
    private let storage: CheckpointStorage
    private unowned let attempt: JobAttempt
    /// Guards `scheduler`; signalled on every event it waits for.
    private let condition = NSCondition()
    private var scheduler: CheckpointScheduler<TaskAcknowledgement>
    private var previous: CheckpointPieces

    init(configuration: CheckpointConfiguration, storage: CheckpointStorage, attempt: JobAttempt, firstID: Int64) {
        self.storage = storage
        self.attempt = attempt
        self.scheduler = CheckpointScheduler(
            interval: configuration.interval, minimumPause: configuration.minimumPause, timeout: configuration.timeout,
            tasks: attempt.tasks.reduce(0) { $0 + $1.count },
            sources: attempt.tasks.filter { $0.first?.vertex.isSource ?? false }.reduce(0) { $0 + $1.count },
            firstID: firstID, now: RuntimeClock.now)
        self.previous = CheckpointPieces(storage.latest)
    }

    private let exited = DispatchSemaphore(value: 0)
    private var thread: Thread?

    /// Starts the coordinator thread.
    func start() {
        let thread = Thread { [self] in
            self.loop()
            self.exited.signal()
        }
        self.thread = thread
        thread.name = "weir-coordinator"
        thread.start()
    }

    /// Stops triggering, waits for a publish in progress (its files must stay), and aborts a pending checkpoint.
    func stop() {
        let (first, pending) = self.update { scheduler in (!scheduler.isStopped, scheduler.stop()) }
        guard first else { return }
        // From the coordinator's own thread (a checkpoint callback cancelling the job) there is nothing to wait for.
        if let thread = self.thread, thread != Thread.current {
            self.exited.wait()
        }
        if let pending { self.storage.abort(pending.id) }
    }

    /// A task finished restoring and runs.
    func taskReady() { self.update { $0.taskReady() } }

    /// A source is exhausted: once all are, the final checkpoint is triggered at once.
    func sourceFinished() { self.update { $0.sourceFinished() } }

    /// Stops the job with a checkpoint: once the one in flight (if any) ends, a checkpoint is triggered at once
    /// whose barrier stops the sources and whose completion ends every task (`CheckpointBarrier.stopsJob`).
    /// If it aborts, another is triggered. Does nothing after every source finished (the final checkpoint of
    /// the bounded input then ends the job the same way).
    func requestStop() { self.update { $0.requestStop() } }

    /// A task's part of a checkpoint is durable (dropped unless that checkpoint is pending).
    func acknowledge(_ acknowledgement: TaskAcknowledgement) {
        self.update { $0.acknowledge(acknowledgement, checkpointID: acknowledgement.checkpointID) }
    }

    /// Runs `change` on the scheduler under the condition and wakes the loop.
    @discardableResult
    private func update<R>(_ change: (inout CheckpointScheduler<TaskAcknowledgement>) -> R) -> R {
        self.condition.lock()
        defer {
            self.condition.broadcast()
            self.condition.unlock()
        }
        return change(&self.scheduler)
    }

    /// Performs the scheduler's actions until it exits; the condition is released while one runs.
    private func loop() {
        self.condition.lock()
        while true {
            let now = RuntimeClock.now
            let action = self.scheduler.nextAction(now: now)
            switch action {
            case .exit:
                self.condition.unlock()
                return
            case .wait(let deadline):
                self.sleep(until: deadline, now: now)
                continue
            case .trigger, .complete, .abort:
                break
            }
            self.condition.unlock()
            switch action {
            case .trigger(let barrier):
                RuntimeLog.logger.trace(
                    "triggering checkpoint \(barrier.checkpointID)",
                    metadata: ["final": "\(barrier.isFinal)", "stopsJob": "\(barrier.stopsJob)"])
                self.attempt.trigger(barrier, final: barrier.isFinal)
            case .complete(let pending):
                self.complete(pending, now: now)
            case .abort(let pending, let reason):
                self.abort(pending, reason: reason, now: now)
            case .wait, .exit:
                break
            }
            self.condition.lock()
        }
    }

    /// Waits on the condition (held) until `deadline` (nil: none) or a signal, at most `Limits.channelWaitSlice` (a
    /// safety net: every change the loop waits for signals).
    private func sleep(until deadline: Duration?, now: Duration) {
        let left = deadline.map { max($0 - now, .zero) } ?? .seconds(1)
        let seconds = min(Double(left.milliseconds) / 1000, Limits.channelWaitSlice)
        _ = self.condition.wait(until: Date(timeIntervalSinceNow: seconds + 0.0002))
    }

    private func complete(_ pending: CheckpointScheduler<TaskAcknowledgement>.Pending, now: Duration) {
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
            checkpointedBytes: pieces.bytesNotIn(self.previous), stateBytes: pieces.total)
        self.previous = pieces
        RuntimeLog.logger.debug(
            "checkpoint \(pending.id) completed in \(statistics.endToEnd)",
            metadata: [
                "checkpoint": "\(pending.id)", "checkpointedBytes": "\(statistics.checkpointedBytes)",
                "stateBytes": "\(statistics.stateBytes)", "unaligned": "\(statistics.unaligned)",
            ])
        self.update { $0.ended(pending, completed: true, at: end) }
        self.attempt.checkpointCompleted(statistics)
    }

    private func abort(_ pending: CheckpointScheduler<TaskAcknowledgement>.Pending, reason: String, now: Duration) {
        RuntimeLog.logger.debug("checkpoint \(pending.id) aborted: \(reason)", metadata: ["checkpoint": "\(pending.id)"])
        self.storage.abort(pending.id)
        let end = RuntimeClock.now
        self.update { $0.ended(pending, completed: false, at: end) }
        self.attempt.checkpointAborted(CheckpointStatistics(
            checkpointID: pending.id, status: .aborted, endToEnd: now - pending.triggeredAt, maxStartDelay: .zero,
            maxSynchronous: .zero, maxAsynchronous: .zero, maxAlignment: .zero, publish: .zero, unaligned: false,
            inflightBytes: 0, checkpointedBytes: 0, stateBytes: 0, failure: reason))
    }
}
