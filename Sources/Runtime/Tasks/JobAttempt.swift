import Checkpointing
import Foundation

/// One run of the job graph: every subtask's task and thread, the coordinator, and the checkpoint restored from.
/// A failure cancels every task; `JobExecution` then starts a new attempt from the latest completed checkpoint.
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
    private let onCheckpoint: @Sendable (CheckpointStatistics) -> Void

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
        self.tasks = job.vertices.map { vertex in
            (0..<vertex.parallelism).map { StreamTask(vertex: vertex, subtask: $0, execution: self) }
        }
        if let checkpointing = configuration.checkpointing, let storage {
            self.coordinator = CheckpointCoordinator(
                configuration: checkpointing, storage: storage, attempt: self,
                firstID: (storage.completedCheckpoints.max() ?? restored?.checkpointID ?? 0) + 1)
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

    func taskReady() { self.coordinator?.taskReady() }

    func taskFailed(_ task: StreamTask, _ error: RuntimeError) {
        self.condition.lock()
        let first = self.failure == nil
        if first { self.failure = error }
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
