import Checkpointing
import Foundation
import RocksKit
import StateCore
import Synchronization

/// Runs a job: starts its tasks, checkpoints it, restarts it from the latest completed checkpoint after a task
/// failure (under the restart strategy), and returns when the input ends or `cancel()` is called.
///
/// `run()` blocks; call `cancel()`, `progress` and `statistics` from other threads.
public final class JobExecution: Sendable {
    /// The job.
    public let job: StreamJob
    /// The configuration.
    public let configuration: JobConfiguration
    private let state = Mutex(State())
    private let recordsBefore = Atomic<Int>(0)
    private let recordsAfter = Atomic<Int>(0)

    /// What `run()` and the other threads share.
    private struct State {
        var current: JobAttempt?
        var cancelled = false
        var stopRequested = false
        var checkpoints: [CheckpointStatistics] = []
        var failures: [RuntimeError] = []
        var restoredFrom: [Int64] = []
        var stoppedAt: Int64?
        var finishedTimelines: [AttemptTimeline] = []
        var onCheckpoint: (@Sendable (CheckpointStatistics) -> Void)?
        var onAttempt: (@Sendable (Int, Int64?) -> Void)?
    }

    /// Called on the coordinator thread after every completed or aborted checkpoint. Set it before `run()`.
    public var onCheckpoint: (@Sendable (CheckpointStatistics) -> Void)? {
        get { self.state.withLock { $0.onCheckpoint } }
        set { self.state.withLock { $0.onCheckpoint = newValue } }
    }

    /// Called when an attempt starts (its number, the checkpoint it restores, nil for none) — before its tasks
    /// restore state. Set it before `run()`.
    public var onAttempt: (@Sendable (Int, Int64?) -> Void)? {
        get { self.state.withLock { $0.onAttempt } }
        set { self.state.withLock { $0.onAttempt = newValue } }
    }

    private let metrics: CheckpointMetrics

    /// Prepares a job for running. Checkpoint and task figures go to swift-metrics (see `docs/ARCHITECTURE.md`).
    public init(job: StreamJob, configuration: JobConfiguration) {
        self.job = job
        self.configuration = configuration
        self.metrics = CheckpointMetrics(job: job.name)
    }

    /// What a run did.
    public struct Result: Sendable {
        /// Every checkpoint, completed or aborted, in order.
        public var checkpoints: [CheckpointStatistics]
        /// The failures that caused restarts (the last one ended the job if restarts ran out).
        public var failures: [RuntimeError]
        /// The checkpoint each attempt restored (nil: started empty).
        public var restoredFrom: [Int64]
        /// Whether the job ended because `cancel()` was called (else its input ended, or `stop()` stopped it).
        public var cancelled: Bool

        /// The checkpoint the job stopped with after `stop()`: its last, completed, which a restore resumes from
        /// with nothing reprocessed (nil: not stopped that way).
        public var stoppedAt: Int64?
        /// The failure of the last attempt when `cancel()` came before a restart recovered from it (the job then
        /// never ran again after that failure; callers report it as a failed run).
        public var unrecoveredFailure: RuntimeError?
    }

    /// Figures of the running job.
    public struct Progress: Sendable {
        /// Records taken in by the job's first vertex (its sources) over all attempts.
        public var sourceRecords: Int
        /// Records taken in by the last vertex over all attempts.
        public var sinkRecords: Int
        /// The attempt running (0 first).
        public var attempt: Int
        /// Buffers waiting in all channels.
        public var queuedBuffers: Int
        /// Total time producers waited for room in full channels.
        public var backPressured: Duration
        /// The last completed checkpoint's figures.
        public var lastCheckpoint: CheckpointStatistics?
        /// When the current attempt processed its first record (milliseconds since 1970; nil: not yet).
        public var firstRecordAt: Int64?
    }

    /// Runs until the input ends, `cancel()`, or a failure the restart strategy does not cover.
    /// - Throws: `RuntimeError` — `.invalidJob` before anything ran (a malformed graph, the incremental strategy on
    ///   the heap engine), `.checkpoint` when the checkpoint root
    ///   cannot be opened or a restore fails, `.restartsExhausted` with the last failure.
    @discardableResult
    public func run() throws(RuntimeError) -> Result {
        try self.job.validate(maxParallelism: self.configuration.maxParallelism)
        if case .heap = self.configuration.engine, self.configuration.checkpointing?.strategy.kind == .incremental {
            // Every keyed task would fail at its first checkpoint, and every restart the same way.
            throw RuntimeError(
                code: .invalidJob,
                message: "the incremental strategy needs the RocksDB engine; use .changelog or .full with the heap engine")
        }
        var storage: CheckpointStorage?
        if let checkpointing = self.configuration.checkpointing {
            do {
                storage = try CheckpointStorage(
                    root: checkpointing.directory, retained: checkpointing.retained,
                    fileSystem: checkpointing.fileSystem)
            } catch {
                throw RuntimeError(code: .checkpoint, message: "opening the checkpoint root: \(error.message)", cause: error)
            }
        }
        defer { storage?.close() }
        if let storage { try self.checkRoot(storage) }
        if let arenas = self.configuration.heapArenas { ProcessHeap.manage(arenas: arenas) }
        // Backends a failed attempt parked for local rollback and no later attempt took; then the databases of
        // failed attempts still closing in the background.
        defer {
            ParkedBackends.shared.closeAll(under: self.configuration.workingDirectory + "/")
            RetiredDatabases.shared.waitAll(under: self.configuration.workingDirectory + "/")
        }
        var attempt = 0
        var restore = self.configuration.restore
        var unrecovered: RuntimeError?
        while true {
            let restored = try self.restoredMetadata(restore, storage: storage)
            let origin = restored.map { "from \($0.kind == .savepoint ? "savepoint" : "checkpoint") \($0.checkpointID)" } ?? "empty"
            RuntimeLog.logger.debug("job '\(self.job.name)': attempt \(attempt) starts \(origin)")
            self.onAttempt?(attempt, restored?.checkpointID)
            let run = JobAttempt(
                job: self.job, configuration: self.configuration, storage: storage, restored: restored,
                restoreSource: restored == nil ? .empty : restore, attempt: attempt
            ) { [weak self] statistics in
                guard let self else { return }
                self.state.withLock { $0.checkpoints.append(statistics) }
                self.metrics.record(statistics)
                self.onCheckpoint?(statistics)
            }
            let proceed = self.state.withLock { state -> Bool in
                guard !state.cancelled else { return false }
                state.current = run
                if let restored { state.restoredFrom.append(restored.checkpointID) }
                return true
            }
            guard proceed else { break }
            run.start()
            if self.state.withLock({ $0.stopRequested }) { run.requestStop() }
            let failure = run.wait()
            self.state.withLock { state in
                state.finishedTimelines.append(run.currentTimeline)
                self.recordsBefore.add(run.records(of: 0), ordering: .relaxed)
                self.recordsAfter.add(run.records(of: run.tasks.count - 1), ordering: .relaxed)
                state.current = nil
            }
            storage?.waitForCleanup()
            guard let failure else {
                self.state.withLock { state in
                    if state.stopRequested && !state.cancelled {
                        state.stoppedAt = state.checkpoints.last { $0.status == .completed }?.checkpointID
                    }
                }
                break
            }
            RuntimeLog.logger.debug("job '\(self.job.name)': attempt \(attempt) failed: \(failure.message)")
            let stop = self.state.withLock { state -> Bool in
                state.failures.append(failure)
                return state.cancelled
            }
            if stop {
                unrecovered = failure
                break
            }
            guard case .fixedDelay(let attempts, let delay) = self.configuration.restartStrategy, attempt < attempts else {
                throw RuntimeError(
                    code: .restartsExhausted,
                    message: "the job failed \(attempt + 1) time(s), more than the restart strategy allows; last failure: \(failure.message)",
                    cause: failure)
            }
            // The failed attempt's threads have ended; what they freed goes back to the kernel, not to arenas that
            // the next attempt's threads may never use again.
            ProcessHeap.releaseFreedPages()
            if delay > .zero { Thread.sleep(forTimeInterval: Double(delay.milliseconds) / 1000) }
            attempt += 1
            restore = storage?.latest == nil ? .empty : .latest
        }
        return self.state.withLock { state in
            Result(
                checkpoints: state.checkpoints, failures: state.failures, restoredFrom: state.restoredFrom,
                cancelled: state.cancelled, stoppedAt: state.stoppedAt, unrecoveredFailure: unrecovered)
        }
    }

    /// Refuses what would lose checkpoints: a fresh start on a root that holds some (unless the configuration
    /// asks to clear it, done here under the root's lock), and restoring the latest checkpoint while a newer
    /// one's metadata is damaged (the job would silently restore an older one, or start empty, and then write
    /// new checkpoints beside the damaged one).
    private func checkRoot(_ storage: CheckpointStorage) throws(RuntimeError) {
        let damaged = storage.startup.damaged
        let completed = storage.completedCheckpoints
        switch self.configuration.restore {
        case .empty:
            guard !completed.isEmpty || !damaged.isEmpty else { return }
            if self.configuration.clearCheckpointRoot {
                do { try storage.clear() } catch {
                    throw RuntimeError(code: .checkpoint, message: "clearing the checkpoint root: \(error.message)", cause: error)
                }
                return
            }
            let found = completed.map { "chk-\($0)" } + damaged.map { "\($0.folder) (damaged)" }
            throw RuntimeError(
                code: .checkpoint,
                message: "the checkpoint root \(storage.root) already holds checkpoints (\(found.joined(separator: ", "))); "
                    + "a fresh start would replace them. Resume from the latest with `restore: .latest` (weir run "
                    + "--restore), or delete them first with `clearCheckpointRoot` (weir run --clear-checkpoints), or "
                    + "use another root.")
        case .latest:
            let newest = completed.max() ?? 0
            let newer = damaged.filter { (Int64($0.folder.dropFirst(4)) ?? 0) > newest }
            guard let first = newer.first else { return }
            let fallback = completed.max().map {
                " To restore the newest readable checkpoint instead, restore checkpoint \($0) explicitly (weir run "
                    + "--restore-checkpoint \($0))."
            } ?? " No older completed checkpoint is readable."
            throw RuntimeError(
                code: .checkpoint,
                message: "cannot restore the latest checkpoint of \(storage.root): \(first.error.message) "
                    + "Nothing was started or changed. Run `weir verify \(storage.root)` to see the damage.\(fallback)",
                cause: first.error)
        case .checkpoint, .savepoint:
            return
        }
    }

    /// Stops the job gracefully (any thread), as Flink's stop-with-checkpoint does: once the checkpoint in flight
    /// ends, one more is taken at once; the sources emit nothing after its barrier, the sinks commit it, every
    /// task exits without finishing its operators, and `run()` returns with `Result.stoppedAt` naming it. A
    /// restore from it (`RestoreSource.latest`) reprocesses nothing. A failure meanwhile restarts the job as
    /// usual and the new attempt stops the same way. Without checkpointing it is `cancel()`.
    public func stop() {
        guard self.configuration.checkpointing != nil else { return self.cancel() }
        RuntimeLog.logger.debug("job '\(self.job.name)': stop requested (a last checkpoint, then the tasks exit)")
        let run = self.state.withLock { state -> JobAttempt? in
            state.stopRequested = true
            return state.current
        }
        run?.requestStop()
    }

    /// Stops the job (any thread); `run()` then returns. No final checkpoint is taken.
    public func cancel() {
        let run = self.state.withLock { state -> JobAttempt? in
            state.cancelled = true
            return state.current
        }
        run?.cancel()
    }

    /// Every checkpoint so far.
    public var statistics: [CheckpointStatistics] { self.state.withLock { $0.checkpoints } }

    /// Every attempt so far (the running one last): restore phases, when state was restored, first record, failure.
    public var timelines: [AttemptTimeline] {
        let (finished, current) = self.state.withLock { ($0.finishedTimelines, $0.current) }
        return finished + (current.map { [$0.currentTimeline] } ?? [])
    }

    /// The running job's figures.
    public var progress: Progress {
        let (run, last, before, after) = self.state.withLock { state in
            (state.current, state.checkpoints.last { $0.status == .completed }, self.recordsBefore.load(ordering: .relaxed),
             self.recordsAfter.load(ordering: .relaxed))
        }
        guard let run else {
            return Progress(
                sourceRecords: before, sinkRecords: after, attempt: 0, queuedBuffers: 0, backPressured: .zero,
                lastCheckpoint: last)
        }
        let tasks = run.tasks.joined()
        let first = tasks.map { $0.firstRecordWall.load(ordering: .relaxed) }.filter { $0 > 0 }.min()
        return Progress(
            sourceRecords: before + run.records(of: 0), sinkRecords: after + run.records(of: run.tasks.count - 1),
            attempt: run.attempt,
            queuedBuffers: tasks.reduce(0) { $0 + $1.gate.queuedBuffers },
            backPressured: .microseconds(tasks.reduce(0) { $0 + $1.backPressuredMicros.load(ordering: .relaxed) }),
            lastCheckpoint: last, firstRecordAt: first.map(Int64.init))
    }

    private func restoredMetadata(_ source: RestoreSource, storage: CheckpointStorage?) throws(RuntimeError) -> CheckpointMetadata? {
        do {
            switch source {
            case .empty:
                return nil
            case .latest:
                return storage?.latest
            case .checkpoint(let id):
                guard let storage else { return nil }
                return try storage.metadata(id)
            case .savepoint(let directory):
                let path = directory + "/_metadata"
                return try CheckpointMetadata.decode(try ObjectStoreFileSystem.forPath(path).read(path), path: path)
            }
        } catch {
            throw RuntimeError(code: .checkpoint, message: "finding the checkpoint to restore: \(error.message)", cause: error)
        }
    }
}
