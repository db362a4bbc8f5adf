import Checkpointing
import Foundation
import Runtime
import StateCore
import StateTestSupport
import Testing

/// Restart strategy limits, expired checkpoints, and per-operator maxParallelism.
@Suite(.serialized) struct FailoverTests {
    @Test func aJobThatKeepsFailingStopsAfterTheRestartStrategysAttempts() throws {
        let scratch = TemporaryDirectory(prefix: "weir-failover")
        defer { scratch.remove() }
        let job = StreamJob.keyedCount(generator: GeneratorSource.Configuration(keys: 100, payloadBytes: 8, count: 50_000))
        let attempts = Counter()
        let configuration = JobConfiguration(
            checkpointing: CheckpointConfiguration(directory: scratch.appending("checkpoints"), interval: .milliseconds(50)),
            workingDirectory: scratch.appending("work"), restartStrategy: .fixedDelay(attempts: 2, delay: .milliseconds(10)),
            failureInjector: { vertex, _, _, records in vertex == "count" && records >= 1_000 })
        let execution = JobExecution(job: job, configuration: configuration)
        execution.onAttempt = { _, _ in attempts.increment() }
        let error = try #require(throws: RuntimeError.self) { try execution.run() }
        #expect(error.code == .restartsExhausted)
        #expect(error.message.contains("failed 3 time(s)") && error.message.contains("injected failure"))
        #expect(attempts.value == 3)
    }

    /// A task's chain (its closures capture the task) once kept every attempt's operators, backends and changelog
    /// buffers alive for the life of the process: resident memory grew by about 7 MiB per restart.
    @Test func theOperatorsAndBackendsOfEveryAttemptAreFreedWhenItEnds() throws {
        let scratch = TemporaryDirectory(prefix: "weir-lifetimes")
        defer { scratch.remove() }
        let made = Lifetimes()
        let job = StreamJob(name: "lifetimes", defaultParallelism: 2)
        job.generator(GeneratorSource.Configuration(keys: 100, payloadBytes: 8, count: 20_000))
            .keyBy { $0.key }
            .process(name: "count") { TrackedCount(token: made.track(Token())) }
            .sink(name: "discard") { _ in made.track(CountingSink<KeyCount>()) }
        let attempts = Counter()
        let configuration = JobConfiguration(
            checkpointing: CheckpointConfiguration(directory: scratch.appending("checkpoints"), interval: .milliseconds(20)),
            workingDirectory: scratch.appending("work"), restartStrategy: .fixedDelay(attempts: 5, delay: .zero),
            failureInjector: { vertex, subtask, attempt, records in
                vertex == "count" && subtask == 0 && attempt < 2 && records >= 2_000
            })
        let execution = JobExecution(job: job, configuration: configuration)
        execution.onAttempt = { attempt, _ in
            // When an attempt starts, every earlier attempt's tasks have ended: none of their objects may live on.
            #expect(made.alive(before: attempt) == 0, "objects of attempts before \(attempt) still alive")
            made.startAttempt(attempt)
            attempts.increment()
        }
        let result = try execution.run()
        #expect(result.failures.count == 2 && attempts.value == 3)
        #expect(made.count == 3 * 4, "a keyed function and a sink per subtask and attempt")
        #expect(made.alive(before: Int.max) == 0, "every operator is freed once the job ended")
    }

    @Test func expiredCheckpointsAbortCleanlyAndTheOutputStaysExact() throws {
        let scratch = TemporaryDirectory(prefix: "weir-expire")
        defer { scratch.remove() }
        var settings = ExactlyOnceTests.settings(scratch, alignment: .aligned, strategy: .changelog())
        settings.failAt = { _, record in
            if record % 4 == 0 { usleep(200) }
            return false
        }
        let job = StreamJob.keyedCount(
            generator: settings.generator, parallelism: 2, sink: .files(directory: scratch.appending("out")), failAt: settings.failAt)
        let root = scratch.appending("checkpoints")
        let result = try JobExecution(job: job, configuration: JobConfiguration(
            checkpointing: CheckpointConfiguration(directory: root, interval: .milliseconds(60), timeout: .milliseconds(40)),
            workingDirectory: scratch.appending("work"), channelCapacity: 4)).run()
        let aborted = result.checkpoints.filter { $0.status == .aborted }
        #expect(!aborted.isEmpty, "aligned checkpoints behind full channels must expire after 40 ms")
        #expect(aborted.allSatisfy { $0.failure?.contains("not complete after") == true })
        let completed = result.checkpoints.filter { $0.status == .completed }.map(\.checkpointID)
        let folders = try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.hasPrefix("chk-") }
        #expect(folders == completed.suffix(1).map { "chk-\($0)" }, "only the retained completed checkpoint remains")
        #expect(try ExactlyOnceTests.committed(scratch.appending("out")) == ExactlyOnceTests.expected)
    }

    @Test func anOperatorsOwnMaxParallelismBoundsItsKeyGroups() throws {
        let scratch = TemporaryDirectory(prefix: "weir-maxp")
        defer { scratch.remove() }
        let output = scratch.appending("out")
        let job = StreamJob(name: "small", defaultParallelism: 3)
        job.generator(GeneratorSource.Configuration(keys: ExactlyOnceTests.keys, payloadBytes: 16, count: ExactlyOnceTests.records))
            .keyBy { $0.key }
            .process(name: "count", maxParallelism: 8) { KeyedCount() }
            .sink(name: "files") { try TransactionalFileSink<KeyCount>(directory: output, context: $0) { $0.description } }
        try JobExecution(job: job, configuration: JobConfiguration(
            checkpointing: CheckpointConfiguration(directory: scratch.appending("checkpoints"), interval: .milliseconds(50)),
            workingDirectory: scratch.appending("work"))).run()
        #expect(try ExactlyOnceTests.committed(output) == ExactlyOnceTests.expected)
        let storage = try CheckpointStorage(root: scratch.appending("checkpoints"))
        defer { storage.close() }
        let metadata = try #require(storage.latest)
        #expect(metadata.backends.map(\.maxParallelism) == [8, 8, 8])
        #expect(metadata.backends.map(\.keyGroups).sorted { $0.start < $1.start } == [
            KeyGroupRange(start: 0, end: 3), KeyGroupRange(start: 3, end: 6), KeyGroupRange(start: 6, end: 8),
        ])

        let tooWide = StreamJob(name: "too-wide", defaultParallelism: 9)
        tooWide.generator(GeneratorSource.Configuration(count: 10)).keyBy { $0.key }
            .process(name: "count", maxParallelism: 8) { KeyedCount() }
            .sink(name: "discard") { _ in CountingSink<KeyCount>() }
        let error = try #require(throws: RuntimeError.self) {
            try JobExecution(job: tooWide, configuration: JobConfiguration(workingDirectory: scratch.appending("work2"))).run()
        }
        #expect(error.code == .invalidJob && error.message.contains("'count' has parallelism 9"))
    }

    /// An incremental checkpoint's background upload that fails (a full disk for one write under `shared/`)
    /// fails its task as a failed synchronous part would: the failure names the write and the checkpoint, the job
    /// restarts from the latest completed checkpoint, and the committed output is exact.
    @Test func aFailedBackgroundUploadFailsTheTaskAndTheJobRecovers() throws {
        let scratch = TemporaryDirectory(prefix: "weir-upload")
        defer { scratch.remove() }
        let writes = Counter()
        let fileSystem = InterceptingFileSystem(beforeWrite: { path throws(CheckpointError) in
            guard path.contains("/shared/"), writes.increment() == 30 else { return }
            throw CheckpointError(code: .noSpace, message: "write \(path): No space left on device", path: path)
        })
        let settings = ExactlyOnceTests.settings(scratch, alignment: .aligned, strategy: .incremental)
        let job = StreamJob.keyedCount(
            generator: settings.generator, parallelism: 2, sink: .files(directory: scratch.appending("out")),
            failAt: { _, record in
                if record % 8 == 0 { usleep(100) }
                return false
            })
        let result = try JobExecution(job: job, configuration: JobConfiguration(
            checkpointing: CheckpointConfiguration(
                directory: scratch.appending("checkpoints"), interval: .milliseconds(50), strategy: .incremental,
                fileSystem: fileSystem),
            workingDirectory: scratch.appending("work"),
            restartStrategy: .fixedDelay(attempts: 2, delay: .milliseconds(10)))).run()
        #expect(writes.value >= 30)
        #expect(result.failures.count == 1)
        let message = result.failures.first?.message ?? ""
        #expect(message.contains("No space left on device") && message.contains("checkpoint"), "\(message)")
        #expect(result.restoredFrom.count == 1)
        #expect(try ExactlyOnceTests.committed(scratch.appending("out")) == ExactlyOnceTests.expected)
    }
}

/// Weak references to the objects a job's operators were made with, by attempt.
private final class Lifetimes: @unchecked Sendable {
    private final class Weak {
        weak var object: AnyObject?
        let attempt: Int
        init(_ object: AnyObject, attempt: Int) { self.object = object; self.attempt = attempt }
    }

    private let lock = NSLock()
    private var objects: [Weak] = []
    private var attempt = 0

    func startAttempt(_ attempt: Int) { self.lock.withLock { self.attempt = attempt } }

    func track<T: AnyObject>(_ object: T) -> T {
        self.lock.withLock { self.objects.append(Weak(object, attempt: self.attempt)) }
        return object
    }

    var count: Int { self.lock.withLock { self.objects.count } }

    /// Objects of attempts before `attempt` still alive.
    func alive(before attempt: Int) -> Int {
        self.lock.withLock { self.objects.filter { $0.attempt < attempt && $0.object != nil }.count }
    }
}

/// An object whose lifetime `Lifetimes` follows.
private final class Token: Sendable {}

/// The standard keyed count, holding a `Token` for as long as the operator holds the function.
private struct TrackedCount: KeyedProcessFunction {
    let token: Token
    var count = KeyedCount()

    mutating func open(_ context: KeyedContext<Int64>) throws { try self.count.open(context) }

    mutating func process(_ value: GeneratedRecord, context: KeyedContext<Int64>, out: Collector<KeyCount>) throws {
        try self.count.process(value, context: context, out: out)
    }
}
