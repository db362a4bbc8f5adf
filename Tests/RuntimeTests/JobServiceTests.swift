import Checkpointing
import Foundation
import Logging
import Runtime
import ServiceLifecycle
import StateTestSupport
import Synchronization
import Testing

/// `JobExecution` as a swift-service-lifecycle `Service` and through its `async` run: cancelling the task, or
/// the service group's graceful shutdown, stops the job with a last checkpoint, the sink commits exactly what it
/// covers, and a restore from it reprocesses nothing.
@Suite(.serialized) struct JobServiceTests {
    /// The exactly-once keyed count, the first run slowed (`pause` a record) so that its input outlasts three
    /// checkpoints and the stop that follows them, however loaded the machine is.
    /// Set when the stop has been asked for: records then take 1 ms each, so that the input cannot end before the
    /// stop lands however long the request waits for a thread of the (busy) cooperative pool.
    final class Brake: Sendable {
        let on = Atomic<Bool>(false)
    }

    static func execution(
        _ scratch: TemporaryDirectory, restore: RestoreSource = .empty, pause: UInt32 = 0, brake: Brake = Brake()
    ) -> JobExecution {
        let job = StreamJob.keyedCount(
            generator: GeneratorSource.Configuration(keys: ExactlyOnceTests.keys, payloadBytes: 16, count: ExactlyOnceTests.records),
            parallelism: 2, sink: .files(directory: scratch.appending("out")),
            failAt: { _, _ in
                if brake.on.load(ordering: .relaxed) { usleep(1_000) } else if pause > 0 { usleep(pause) }
                return false
            })
        return JobExecution(job: job, configuration: JobConfiguration(
            checkpointing: CheckpointConfiguration(directory: scratch.appending("checkpoints"), interval: .milliseconds(60)),
            workingDirectory: scratch.appending("work"), restore: restore))
    }

    /// Calls `action` (once) when the job has completed its third checkpoint, on the coordinator's thread: the
    /// stop then comes at the same point of the input however loaded the machine is.
    static func afterThreeCheckpoints(
        _ execution: JobExecution, count: Int = 3, _ action: @escaping @Sendable () -> Void
    ) {
        let completed = Counter()
        execution.onCheckpoint = { statistics in
            guard statistics.status == .completed, completed.increment() == count else { return }
            action()
        }
    }

    /// The stop checkpoint's source positions equal the lines the sink committed; the restore then finishes the
    /// input with every line exactly once.
    static func checkStoppedAndResume(_ scratch: TemporaryDirectory, stoppedAt: Int64?) async throws {
        let stopped = try #require(stoppedAt, "the job did not stop with a checkpoint")
        let storage = try CheckpointStorage(root: scratch.appending("checkpoints"))
        let latest = storage.latest
        storage.close()
        #expect(latest?.checkpointID == stopped)
        let positions = (latest?.tasks ?? []).flatMap { $0.operatorState.filter { $0.key.hasSuffix(".next") }.compactMap { Int($0.value) } }
        let committed = try ExactlyOnceTests.committed(scratch.appending("out"))
        #expect(!committed.isEmpty && committed.count < ExactlyOnceTests.expected.count, "\(committed.count) lines")
        #expect(positions.reduce(0, +) == committed.count, "positions \(positions), \(committed.count) lines")
        let resumed = Self.execution(scratch, restore: .latest)
        let result = try await resumed.execute()
        #expect(result.restoredFrom == [stopped])
        #expect(try ExactlyOnceTests.committed(scratch.appending("out")) == ExactlyOnceTests.expected)
    }

    @Test func cancellingTheAsyncRunStopsTheJobWithALastCheckpoint() async throws {
        let scratch = TemporaryDirectory(prefix: "weir-async")
        defer { scratch.remove() }
        let execution = Self.execution(scratch, pause: 100)
        // The task, and whether the third checkpoint came before it was stored (then it is cancelled at once).
        let task = Mutex<(running: Task<JobExecution.Result, any Error>?, due: Bool)>((nil, false))
        Self.afterThreeCheckpoints(execution) {
            task.withLock { state in
                state.due = true
                return state.running
            }?.cancel()
        }
        let running = Task { try await execution.execute() }
        if task.withLock({ state in
            state.running = running
            return state.due
        }) { running.cancel() }
        let result = try await running.value
        #expect(!result.cancelled && result.failures.isEmpty)
        try await Self.checkStoppedAndResume(scratch, stoppedAt: result.stoppedAt)
    }

    @Test func aServiceGroupsGracefulShutdownStopsTheJobWithALastCheckpoint() async throws {
        let scratch = TemporaryDirectory(prefix: "weir-service")
        defer { scratch.remove() }
        // Slower: the shutdown is triggered from a task, which waits for a thread of the cooperative pool (busy
        // with other tests under the whole suite).
        let brake = Brake()
        let execution = Self.execution(scratch, pause: 1_000, brake: brake)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: execution, successTerminationBehavior: .gracefullyShutdownGroup)],
                logger: Logger(label: "weir.test")))
        Self.afterThreeCheckpoints(execution, count: 1) {
            brake.on.store(true, ordering: .relaxed)
            Task { await group.triggerGracefulShutdown() }
        }
        try await group.run()
        let stopped = execution.statistics.last { $0.status == .completed }?.checkpointID
        // Under the whole suite the shutdown task can wait for a cooperative thread (blocking tests hold them) until
        // the input has ended; then the run must still have committed everything exactly once.
        let committed = try ExactlyOnceTests.committed(scratch.appending("out"))
        if committed.count == ExactlyOnceTests.expected.count {
            #expect(committed == ExactlyOnceTests.expected)
            return
        }
        try await Self.checkStoppedAndResume(scratch, stoppedAt: stopped)
    }
}
