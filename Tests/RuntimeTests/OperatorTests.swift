import Checkpointing
import Foundation
import KeyedState
import Runtime
import StateTestSupport
import Synchronization
import Testing

/// Partitioners, the file source (with a failure and restore), and processing-time timers.
@Suite(.serialized) struct OperatorTests {
    /// Counts per subtask, shared with the test.
    final class Tally: Sendable {
        let counts = Mutex<[Int: Int]>([:])
        func add(_ subtask: Int) { self.counts.withLock { $0[subtask, default: 0] += 1 } }
        var total: Int { self.counts.withLock { $0.values.reduce(0, +) } }
    }

    final class TallySink<T>: SinkFunction {
        let tally: Tally
        let subtask: Int
        init(_ tally: Tally, _ subtask: Int) {
            self.tally = tally
            self.subtask = subtask
        }
        func write(_ value: T) throws { self.tally.add(self.subtask) }
    }

    static func run(_ job: StreamJob, _ scratch: TemporaryDirectory, checkpoints: Bool = false,
                    inject: (@Sendable (String, Int, Int, Int) -> Bool)? = nil) throws -> JobExecution.Result {
        try JobExecution(job: job, configuration: JobConfiguration(
            checkpointing: checkpoints ? CheckpointConfiguration(directory: scratch.appending("checkpoints"), interval: .milliseconds(50)) : nil,
            workingDirectory: scratch.appending("work"), failureInjector: inject)).run()
    }

    @Test func rebalanceSpreadsEvenlyAndBroadcastCopiesToEverySubtask() throws {
        let scratch = TemporaryDirectory(prefix: "weir-ops")
        defer { scratch.remove() }
        let spread = Tally()
        let copies = Tally()
        let job = StreamJob(name: "partitioners", defaultParallelism: 2)
        let generator = GeneratorSource.Configuration(keys: 10, payloadBytes: 0, count: 9_000)
        job.generator(generator, name: "a").map { $0.sequence }
            .rebalance(name: "spread", parallelism: 3, serializer: IntegerSerializer<Int64>())
            .sink(name: "tally") { TallySink<Int64>(spread, $0.subtask) }
        job.generator(generator, name: "b").map { $0.sequence }
            .broadcast(name: "copies", parallelism: 3, serializer: IntegerSerializer<Int64>())
            .sink(name: "tally") { TallySink<Int64>(copies, $0.subtask) }
        _ = try Self.run(job, scratch)
        #expect(spread.total == 9_000)
        #expect(spread.counts.withLock { $0.values.allSatisfy { abs($0 - 3_000) <= 2 } }, "\(spread.counts.withLock { $0 })")
        #expect(copies.counts.withLock { $0 } == [0: 9_000, 1: 9_000, 2: 9_000])
    }

    @Test func fileSourceResumesAfterTheLastCheckpointedLine() throws {
        let scratch = TemporaryDirectory(prefix: "weir-file")
        defer { scratch.remove() }
        let lines = (0..<30_000).map { "line \($0)" }
        let input = scratch.appending("input.txt")
        try (lines.joined(separator: "\r\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let output = scratch.appending("out")
        let job = StreamJob(name: "copy", defaultParallelism: 2)
        job.textFile(input).map { line in
            usleep(20)
            return line
        }.sink(name: "files") { try TransactionalFileSink<String>(directory: output, context: $0) { $0 } }
        let result = try Self.run(job, scratch, checkpoints: true) { vertex, _, attempt, records in
            attempt == 0 && vertex == "file" && records >= 6_000
        }
        #expect(result.failures.count == 1)
        #expect(!result.restoredFrom.isEmpty)
        #expect(try ExactlyOnceTests.committed(output) == lines.sorted())
    }

    @Test func fileSourceNamesAMissingFile() throws {
        let scratch = TemporaryDirectory(prefix: "weir-file")
        defer { scratch.remove() }
        let job = StreamJob(name: "missing", defaultParallelism: 1)
        job.textFile(scratch.appending("nope.txt")).sink(name: "discard") { _ in CountingSink<String>() }
        let configuration = JobConfiguration(workingDirectory: scratch.appending("work"), restartStrategy: .none)
        let error = try #require(throws: RuntimeError.self) { try JobExecution(job: job, configuration: configuration).run() }
        #expect(error.code == .restartsExhausted)
        #expect(error.message.contains("nope.txt") && error.message.contains("missing"))
    }

    /// Emits each key once, from a processing-time timer 5 ms after its first record.
    struct Debounce: KeyedProcessFunction {
        var armed: ValueState<Bool, VoidNamespace>?
        mutating func open(_ context: KeyedContext<Int64>) throws {
            self.armed = try context.state.valueState(ValueStateDescriptor("armed", serializer: .bool))
        }
        mutating func process(_ value: GeneratedRecord, context: KeyedContext<Int64>, out: Collector<Int64>) throws {
            guard try self.armed!.value() == nil else { return }
            try self.armed!.update(true)
            try context.registerProcessingTimeTimer(context.currentProcessingTime + 5)
        }
        mutating func onTimer(_ timestamp: Int64, domain: TimeDomain, context: KeyedContext<Int64>, out: Collector<Int64>) throws {
            #expect(domain == .processingTime)
            try out.collect(context.currentKey!)
        }
    }

    @Test func processingTimeTimersFireOncePerKey() throws {
        let scratch = TemporaryDirectory(prefix: "weir-timer")
        defer { scratch.remove() }
        let fired = Tally()
        let job = StreamJob(name: "debounce", defaultParallelism: 2)
        job.generator(GeneratorSource.Configuration(keys: 50, payloadBytes: 0, count: 20_000, rate: 40_000))
            .keyBy { $0.key }
            .process(name: "debounce") { Debounce() }
            .sink(name: "tally") { TallySink<Int64>(fired, Int($0.subtask)) }
        _ = try Self.run(job, scratch)
        #expect(fired.total == 50, "every key's timer fires exactly once")
    }
}
