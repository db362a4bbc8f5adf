import Foundation
import StateTestSupport
import Testing
import Weir    // the product the README links: one import for the whole API

/// The README's "your own job" example, with scratch paths: it must compile with `import Weir` alone and produce
/// what it says; and `CheckpointInspector` (the CLI's functions) is reachable through the same import.
@Suite struct ReadmeExampleTests {
    struct Count: KeyedProcessFunction {
        var count: ValueState<Int64, VoidNamespace>?
        mutating func open(_ context: KeyedContext<Int64>) throws {
            count = try context.state.valueState(ValueStateDescriptor("count", serializer: .int64))
        }
        mutating func process(_ record: GeneratedRecord, context: KeyedContext<Int64>, out: Collector<String>) throws {
            let next = (try count!.value() ?? 0) + 1
            try count!.update(next)
            try out.collect("\(record.key),\(next)")
        }
    }

    @Test func theReadmeJobRunsAndCommitsEveryRecord() throws {
        let scratch = TemporaryDirectory(prefix: "weir-readme")
        defer { scratch.remove() }
        let output = scratch.appending("out")
        let job = StreamJob(name: "counts", defaultParallelism: 2)
        job.generator(GeneratorSource.Configuration(keys: 1_000, payloadBytes: 16, count: 100_000))
            .keyBy { $0.key }
            .process(name: "count") { Count() }
            .filter { !$0.isEmpty }
            .sink(name: "files") { try TransactionalFileSink<String>(directory: output, context: $0) { $0 } }
        let result = try JobExecution(job: job, configuration: JobConfiguration(
            checkpointing: CheckpointConfiguration(directory: scratch.appending("ckpt"), interval: .seconds(1), alignment: .unaligned),
            workingDirectory: scratch.appending("work"), restore: .latest)).run()
        #expect(result.checkpoints.last?.status == .completed)
        #expect(try ExactlyOnceTests.committed(output).count == 100_000)
        let report = try CheckpointInspector(root: scratch.appending("ckpt")).verify()
        #expect(report.isClean && !report.checkpoints.isEmpty, "\(report.problems.map(\.description))")
    }
}
