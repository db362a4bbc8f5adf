import Checkpointing
import Foundation
import StateCore

/// One run of the job graph: every subtask's task and thread, the coordinator, and the checkpoint restored from.
/// A failure cancels every task; `JobExecution` then starts a new attempt from the latest completed checkpoint.
///
/// Failover: the first task failure cancels every task (the coordinator first finishes a publish in progress) and
/// the tasks close or park their backends (`TaskOperator.park`, for local rollback); the next attempt runs under
/// the restart strategy. A new process with `restore: .latest` does the same after `kill -9`, and checkpoint
/// storage removes the aborted folder at start. The transactional file sink commits what the restored checkpoint
/// pre-committed and deletes every other pending or in-progress file of its subtask. Failure injection
/// (`JobConfiguration.failureInjector`) is consulted after every input buffer and source batch.
final class JobAttempt: @unchecked Sendable {
    let configuration: JobConfiguration
    let storage: CheckpointStorage?
    let restored: CheckpointMetadata?
    let restoreSource: RestoreSource
    let attempt: Int
    let jobName: String
    private(set) var tasks: [[StreamTask]] = []
    private(set) var coordinator: CheckpointCoordinator?
    private let condition = NSCondition()
    private var running = 0
    private(set) var failure: RuntimeError?
    private var ready = 0
    /// What this attempt's recovery looked like (epoch milliseconds).
    private(set) var timeline: AttemptTimeline
    private let onCheckpoint: @Sendable (CheckpointStatistics) -> Void
    private let restoreMetrics: RestoreMetrics

    init(
        job: StreamJob, configuration: JobConfiguration, storage: CheckpointStorage?, restored: CheckpointMetadata?,
        restoreSource: RestoreSource, attempt: Int, onCheckpoint: @escaping @Sendable (CheckpointStatistics) -> Void
    ) {
        self.configuration = configuration
        self.storage = storage
        self.restored = restored
        self.restoreSource = restoreSource
        self.attempt = attempt
        self.jobName = job.name
        self.onCheckpoint = onCheckpoint
        self.restoreMetrics = RestoreMetrics(job: job.name)
        self.timeline = AttemptTimeline(
            attempt: attempt, restoredCheckpoint: restored?.checkpointID, startedAt: SystemStateClock().nowMilliseconds())
        let sources = Set(job.vertices.filter(\.isSource).map(\.name))
        self.timeline.restoredSourceRecords = (restored?.tasks ?? []).filter { sources.contains($0.vertex) }
            .flatMap { task in task.operatorState.filter { $0.key.hasSuffix(".next") }.compactMap { Int($0.value) } }
            .reduce(0, +)
        self.tasks = job.vertices.map { vertex in
            (0..<vertex.parallelism).map { StreamTask(vertex: vertex, subtask: $0, execution: self) }
        }
        if let checkpointing = configuration.checkpointing, let storage {
            self.coordinator = CheckpointCoordinator(
                configuration: checkpointing, storage: storage, attempt: self,
                firstID: max(storage.nextCheckpointID, (restored?.checkpointID ?? 0) + 1))
        }
    }

    /// Starts every task's thread and the coordinator.
    func start() {
        self.condition.lock()
        self.running = self.tasks.reduce(0) { $0 + $1.count }
        self.condition.unlock()
        for task in self.tasks.joined() {
            let thread = Thread { task.run() }
            thread.name = "weir-\(task.label)"
            thread.stackSize = 4 << 20
            thread.start()
        }
        self.coordinator?.start()
    }

    /// Blocks until every task exited; returns the failure, if any.
    func wait() -> RuntimeError? {
        self.condition.lock()
        while self.running > 0 { self.condition.wait() }
        let failure = self.failure
        self.condition.unlock()
        self.coordinator?.stop()
        return failure
    }

    /// Stops every task (user cancel or failure).
    func cancel() {
        self.coordinator?.stop()
        for task in self.tasks.joined() { task.gate.cancel() }
    }

    /// Stops the attempt with a last checkpoint (`CheckpointCoordinator.requestStop`), or cancels it when it
    /// takes no checkpoints.
    func requestStop() {
        if let coordinator = self.coordinator { coordinator.requestStop() } else { self.cancel() }
    }

    func taskReady() {
        self.condition.lock()
        self.ready += 1
        if self.ready == self.tasks.reduce(0, { $0 + $1.count }) { self.timeline.restoredAt = SystemStateClock().nowMilliseconds() }
        self.condition.unlock()
        self.coordinator?.taskReady()
    }

    /// A keyed backend finished restoring.
    func restored(_ report: RestoreReport) {
        self.condition.lock()
        self.timeline.restores.append(report)
        self.condition.unlock()
        self.restoreMetrics.record(report)
    }

    /// The timeline so far, with the first record time of the tasks.
    var currentTimeline: AttemptTimeline {
        self.condition.lock()
        var timeline = self.timeline
        self.condition.unlock()
        // The first record the job processed past its sources (sources start before keyed tasks finish restoring).
        let processing = self.tasks.joined().filter { !$0.vertex.isSource }
        let first = (processing.isEmpty ? Array(self.tasks.joined()) : processing)
            .map { $0.firstRecordWall.load(ordering: .relaxed) }.filter { $0 > 0 }.min()
        timeline.firstRecordAt = first.map(Int64.init)
        return timeline
    }

    func taskFailed(_ task: StreamTask, _ error: RuntimeError) {
        self.condition.lock()
        let first = self.failure == nil
        if first {
            self.failure = error
            self.timeline.failedAt = SystemStateClock().nowMilliseconds()
            self.timeline.sourceRecordsAtFailure = self.records(of: 0)
        }
        self.condition.unlock()
        if first { self.cancel() }
    }

    func taskExited(_ task: StreamTask) {
        self.condition.lock()
        self.running -= 1
        self.condition.broadcast()
        self.condition.unlock()
    }

    /// Sends the trigger to every source task.
    func trigger(_ barrier: CheckpointBarrier, final: Bool) {
        for task in self.tasks.joined() where task.vertex.isSource { task.gate.post(.trigger(barrier, final: final)) }
    }

    /// Tells every task, sinks first, that the checkpoint completed.
    func checkpointCompleted(_ statistics: CheckpointStatistics) {
        self.onCheckpoint(statistics)
        for vertexTasks in self.tasks.reversed() {
            for task in vertexTasks { task.gate.post(.complete(statistics.checkpointID)) }
        }
    }

    func checkpointAborted(_ statistics: CheckpointStatistics) {
        self.onCheckpoint(statistics)
        for task in self.tasks.joined() { task.gate.post(.abort(statistics.checkpointID)) }
    }

    /// Records taken in by every task of `vertex` so far.
    func records(of vertexIndex: Int) -> Int {
        self.tasks[vertexIndex].reduce(0) { $0 + $1.recordsIn.load(ordering: .relaxed) }
    }
}
