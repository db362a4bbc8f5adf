import Checkpointing
import Foundation
import StateCore

/// Triggers checkpoints at the configured interval (one in flight, a minimum pause between them), collects every
/// task's acknowledgement, publishes the metadata, then tells every task the checkpoint completed. A checkpoint
/// not complete within the timeout is aborted: its folder is removed and tasks drop what they recorded.
///
/// One thread. An acknowledgement carries backend handles, task state and a channel-state file; a task sends it
/// from the thread that finishes its backends' asynchronous parts, and a failed part posts the error to the task,
/// which fails. After the publish, `complete` goes to every task, sinks first. Backends keep the files of an
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
    private let configuration: CheckpointConfiguration
    private let storage: CheckpointStorage
    private unowned let attempt: JobAttempt
    private let condition = NSCondition()
    private var nextID: Int64
    private var pending: Pending?
    private var lastEnd: Duration
    private var stopped = false
    private var finishedSources = 0
    /// The final checkpoint (taken once every source finished) completed: nothing more is triggered.
    private var finalCompleted = false
    /// `requestStop()` was called: the next checkpoint is triggered at once and stops the job.
    private var stopRequested = false
    private var readyTasks = 0
    private var previous: CheckpointPieces
    private let expected: Int
    private let sources: Int

    private struct Pending {
        var id: Int64
        var triggeredAt: Duration
        var isFinal = false
        var acknowledgements: [TaskAcknowledgement] = []
    }

    init(configuration: CheckpointConfiguration, storage: CheckpointStorage, attempt: JobAttempt, firstID: Int64) {
        self.configuration = configuration
        self.storage = storage
        self.attempt = attempt
        self.nextID = firstID
        self.lastEnd = RuntimeClock.now
        self.lastTrigger = self.lastEnd
        self.previous = CheckpointPieces(storage.latest)
        self.expected = attempt.tasks.reduce(0) { $0 + $1.count }
        self.sources = attempt.tasks.filter { $0.first?.vertex.isSource ?? false }.reduce(0) { $0 + $1.count }
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
        self.condition.lock()
        let first = !self.stopped
        self.stopped = true
        let pending = self.pending
        self.pending = nil
        self.condition.broadcast()
        self.condition.unlock()
        guard first else { return }
        // From the coordinator's own thread (a checkpoint callback cancelling the job) there is nothing to wait for.
        if let thread = self.thread, thread != Thread.current {
            self.exited.wait()
        }
        if let pending { self.storage.abort(pending.id) }
    }

    /// A task finished restoring and runs.
    func taskReady() {
        self.condition.lock()
        self.readyTasks += 1
        self.condition.broadcast()
        self.condition.unlock()
    }

    /// A source is exhausted: once all are, the final checkpoint is triggered at once.
    func sourceFinished() {
        self.condition.lock()
        self.finishedSources += 1
        self.condition.broadcast()
        self.condition.unlock()
    }

    /// Stops the job with a checkpoint: once the one in flight (if any) ends, a checkpoint is triggered at once
    /// whose barrier stops the sources and whose completion ends every task (`CheckpointBarrier.stopsJob`).
    /// If it aborts, another is triggered. Does nothing after every source finished (the final checkpoint of
    /// the bounded input then ends the job the same way).
    func requestStop() {
        self.condition.lock()
        self.stopRequested = true
        self.condition.broadcast()
        self.condition.unlock()
    }

    /// A task's part of a checkpoint is durable.
    func acknowledge(_ acknowledgement: TaskAcknowledgement) {
        self.condition.lock()
        if self.pending?.id == acknowledgement.checkpointID {
            self.pending?.acknowledgements.append(acknowledgement)
            self.condition.broadcast()
        }
        self.condition.unlock()
    }

    private func loop() {
        self.condition.lock()
        while !self.stopped {
            let now = RuntimeClock.now
            if var pending = self.pending {
                if pending.acknowledgements.count == self.expected {
                    self.pending = nil
                    self.condition.unlock()
                    self.complete(pending, now: now)
                    self.condition.lock()
                    continue
                }
                if now - pending.triggeredAt >= self.configuration.timeout {
                    self.pending = nil
                    pending.acknowledgements.removeAll()
                    self.condition.unlock()
                    self.abort(pending, reason: "not complete after \(self.configuration.timeout)", now: now)
                    self.condition.lock()
                    continue
                }
                // Each acknowledgement signals: sleep until the timeout.
                self.sleep(until: pending.triggeredAt + self.configuration.timeout, now: now)
                continue
            }
            let allFinished = self.sources > 0 && self.finishedSources == self.sources
            if self.finalCompleted {
                // The sources end their output now; a checkpoint after the final one would race the tasks closing.
                self.sleep(until: nil, now: now)  // until stopped (which signals)
                continue
            }
            let due = max(self.lastEnd + self.configuration.minimumPause, self.lastTrigger + self.configuration.interval)
            let stops = self.stopRequested && !allFinished
            if self.readyTasks == self.expected && (now >= due || allFinished || stops) {
                let id = self.nextID
                self.nextID += 1
                self.pending = Pending(id: id, triggeredAt: now, isFinal: allFinished || stops)
                self.lastTrigger = now
                self.condition.unlock()
                RuntimeLog.logger.trace(
                    "triggering checkpoint \(id)", metadata: ["final": "\(allFinished || stops)", "stopsJob": "\(stops)"])
                self.attempt.trigger(
                    CheckpointBarrier(checkpointID: id, triggeredAt: now, isFinal: allFinished || stops, stopsJob: stops),
                    final: allFinished || stops)
                self.condition.lock()
                continue
            }
            // A task getting ready, a source finishing and a stop request all signal: sleep until the next due time.
            self.sleep(until: self.readyTasks == self.expected ? due : nil, now: now)
        }
        self.condition.unlock()
    }

    /// Waits on the condition (held) until `deadline` (nil: none) or a signal, at most `Limits.channelWaitSlice` (a
    /// safety net: every change the loop waits for signals).
    private func sleep(until deadline: Duration?, now: Duration) {
        let left = deadline.map { max($0 - now, .zero) } ?? .seconds(1)
        let seconds = min(Double(left.milliseconds) / 1000, Limits.channelWaitSlice)
        _ = self.condition.wait(until: Date(timeIntervalSinceNow: seconds + 0.0002))
    }

    private var lastTrigger = Duration.zero

    private func complete(_ pending: Pending, now: Duration) {
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
        self.condition.lock()
        self.lastEnd = end
        if pending.isFinal { self.finalCompleted = true }
        self.condition.unlock()
        self.attempt.checkpointCompleted(statistics)
    }

    private func abort(_ pending: Pending, reason: String, now: Duration) {
        RuntimeLog.logger.debug("checkpoint \(pending.id) aborted: \(reason)", metadata: ["checkpoint": "\(pending.id)"])
        self.storage.abort(pending.id)
        self.condition.lock()
        self.lastEnd = RuntimeClock.now
        self.condition.unlock()
        self.attempt.checkpointAborted(CheckpointStatistics(
            checkpointID: pending.id, status: .aborted, endToEnd: now - pending.triggeredAt, maxStartDelay: .zero,
            maxSynchronous: .zero, maxAsynchronous: .zero, maxAlignment: .zero, publish: .zero, unaligned: false,
            inflightBytes: 0, checkpointedBytes: 0, stateBytes: 0, failure: reason))
    }
}
