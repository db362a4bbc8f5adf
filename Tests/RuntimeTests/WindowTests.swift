import Checkpointing
import Foundation
import KeyedState
import Runtime
import StateCore
import StateTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Event-time tumbling and sliding window counts through the transactional file sink, with a task failure in
/// the middle: the committed windows equal the windows computed directly from the generated records.
@Suite(.serialized) struct WindowTests {
    static let records: Int64 = 20_000
    static let keys: Int64 = 16

    /// `key,start,end,count` for every window of every key, sorted.
    static func expected(_ assigner: WindowAssigner) -> [String] {
        let configuration = GeneratorSource.Configuration(keys: keys, payloadBytes: 8, count: records)
        var counts: [String: Int64] = [:]
        for index in 0..<records {
            let key = GeneratorSource.key(of: index, configuration: configuration)
            for start in starts(of: index / 10, assigner) { counts["\(key),\(start),\(start + assigner.size)", default: 0] += 1 }
        }
        return counts.map { "\($0.key),\($0.value)" }.sorted()
    }

    static func starts(of time: Int64, _ assigner: WindowAssigner) -> [Int64] {
        var start = time - time % assigner.slide
        var result: [Int64] = []
        while start > time - assigner.size {
            result.append(start)
            start -= assigner.slide
        }
        return result
    }

    static let cases: [(WindowAssigner, AlignmentMode, SnapshotStrategy, lateness: Int64)] = [
        (.tumbling(size: 100), .aligned, .changelog(materializationInterval: .milliseconds(300)), 0),
        (.sliding(size: 100, slide: 25), .aligned, .changelog(materializationInterval: .milliseconds(300)), 0),
        (.sliding(size: 100, slide: 25), .unaligned, .changelog(materializationInterval: .milliseconds(300)), 0),
        (.sliding(size: 100, slide: 25), .alignmentTimeout(.milliseconds(5)), .changelog(materializationInterval: .milliseconds(300)), 0),
        (.tumbling(size: 100), .unaligned, .incremental, 0),
        (.sliding(size: 100, slide: 25), .alignmentTimeout(.milliseconds(5)), .incremental, 0),
        (.sliding(size: 100, slide: 25), .aligned, .full, 0),
        (.tumbling(size: 100), .unaligned, .full, 0),
        // State kept 50 units past each window's end (cleanup timers) across the failure.
        (.sliding(size: 100, slide: 25), .unaligned, .changelog(materializationInterval: .milliseconds(300)), 50),
        (.tumbling(size: 100), .aligned, .incremental, 50),
    ]

    @Test(arguments: 0..<10)
    func windowsAreExactlyOnceAcrossAFailure(index: Int) throws {
        let (assigner, alignment, strategy, lateness) = Self.cases[index]
        let scratch = TemporaryDirectory(prefix: "weir-window")
        defer { scratch.remove() }
        let output = scratch.appending("out")
        let job = StreamJob(name: "windows", defaultParallelism: 2)
        job.generator(GeneratorSource.Configuration(keys: Self.keys, payloadBytes: 8, count: Self.records, rate: 25_000))
            .assignWatermarks { $0.sequence / 10 }    // 10 records per time unit; each source subtask is in order
            .keyBy { $0.key }
            .windowAggregate(name: "count", assigner, allowedLateness: lateness, timestamp: { $0.sequence / 10 }, initial: Int64(0), serializer: .int64) { count, _ in
                count + 1
            }
            .sink(name: "files") { context in
                try TransactionalFileSink<WindowResult<Int64, Int64>>(directory: output, context: context) { $0.description }
            }
        let failAfter = Int(Self.records / 2)
        let configuration = JobConfiguration(
            checkpointing: CheckpointConfiguration(
                directory: scratch.appending("checkpoints"), interval: .milliseconds(80), strategy: strategy, alignment: alignment),
            workingDirectory: scratch.appending("work"),
            failureInjector: { vertex, _, attempt, records in attempt == 0 && vertex == "count" && records >= failAfter / 2 },
            channelCapacity: 4)
        let result = try JobExecution(job: job, configuration: configuration).run()
        #expect(result.failures.count == 1, "\(result.failures.map(\.message))")
        #expect(!result.restoredFrom.isEmpty)
        let lines = try ExactlyOnceTests.committed(output)
        let expected = Self.expected(assigner)
        #expect(lines.count == expected.count)
        #expect(lines == expected, "\(assigner) \(alignment) \(strategy.kind) lateness \(lateness): committed windows differ from the direct computation: only committed \(Set(lines).subtracting(expected).sorted().prefix(5)), only expected \(Set(expected).subtracting(lines).sorted().prefix(5))")
    }
}
