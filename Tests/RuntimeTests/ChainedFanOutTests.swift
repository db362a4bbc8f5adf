import Checkpointing
import Foundation
import Runtime
import StateCore
import StateTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A one-to-many operator chained to the source (`textFile → flatMap(split)`), under backpressure (two-buffer
/// channels, small buffers, a slow sink): a checkpoint must never fall between a line and the last word it
/// produced, or a restore from it skips the rest of the line's words. Word counts committed after failures must
/// equal the failure-free ones: every `word,n` line exactly once.
@Suite(.serialized) struct ChainedFanOutTests {
    static let lines = 2_400
    static let wordsPerLine = 12

    /// A seeded text: `lines` lines of `wordsPerLine` words from a 40-word vocabulary.
    static let text: String = {
        var random = SeededGenerator(seed: 24)
        let vocabulary = (0..<40).map { "w\($0)" }
        return (0..<lines).map { _ in
            (0..<wordsPerLine).map { _ in vocabulary[Int(random.next() % UInt64(vocabulary.count))] }.joined(separator: " ")
        }.joined(separator: "\n") + "\n"
    }()

    /// What a failure-free run commits, sorted: for each word, `word,1` … `word,n`.
    static let expected: [String] = {
        var counts: [String: Int64] = [:]
        var result: [String] = []
        for line in text.split(separator: "\n") {
            for word in line.split(separator: " ") {
                counts[String(word), default: 0] += 1
                result.append("\(word),\(counts[String(word)]!)")
            }
        }
        return result.sorted()
    }()

    /// What `lines` lacks and repeats against `expected` (a few of each), nil when they are equal.
    static func difference(_ lines: [String], _ expected: [String]) -> String? {
        guard lines != expected else { return nil }
        var remaining = Dictionary(expected.map { ($0, 1) }, uniquingKeysWith: +)
        var extra: [String] = []
        for line in lines {
            if let count = remaining[line], count > 0 { remaining[line] = count - 1 } else { extra.append(line) }
        }
        let missing = remaining.filter { $0.value > 0 }.keys.sorted()
        return "\(missing.count) missing (\(missing.prefix(5).joined(separator: " "))), \(extra.count) extra (\(extra.prefix(5).joined(separator: " ")))"
    }

    /// Writes the input file into `scratch`.
    static func input(_ scratch: TemporaryDirectory) throws -> String {
        let path = scratch.appending("words.txt")
        try Self.text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The configuration of the tests: small buffers and channels, checkpoints every 25 ms.
    static func configuration(
        _ scratch: TemporaryDirectory, alignment: AlignmentMode, strategy: SnapshotStrategy,
        failureInjector: (@Sendable (String, Int, Int, Int) -> Bool)? = nil
    ) -> JobConfiguration {
        var configuration = JobConfiguration(
            checkpointing: CheckpointConfiguration(
                directory: scratch.appending("checkpoints"), interval: .milliseconds(25), strategy: strategy,
                alignment: alignment),
            workingDirectory: scratch.appending("work"), restartStrategy: .fixedDelay(attempts: 3, delay: .zero),
            failureInjector: failureInjector, bufferSize: 48, channelCapacity: 2)
        configuration.bufferDebloating = nil
        return configuration
    }

    @Test(arguments: [0, 1, 2], [0, 1, 2])
    func taskFailuresNeverSplitALinesWords(modeIndex: Int, strategyIndex: Int) throws {
        let scratch = TemporaryDirectory(prefix: "weir-fanout")
        defer { scratch.remove() }
        let mode = ExactlyOnceTests.modes[modeIndex]
        let (strategyName, strategy) = ExactlyOnceTests.strategies[strategyIndex]
        var random = SeededGenerator(seed: UInt64(100 + modeIndex * 10 + strategyIndex))
        // Two failures of a "count" subtask at seeded records, each once a checkpoint of the attempt completed.
        let failures = [Int(3_000 + random.next() % 3_000), Int(1_000 + random.next() % 3_000)]
        let completed = Counter()
        let job = StreamJob.wordCount(
            input: try Self.input(scratch), output: scratch.appending("out"), throttle: .microseconds(400))
        let execution = JobExecution(job: job, configuration: Self.configuration(
            scratch, alignment: mode, strategy: strategy,
            failureInjector: { vertex, _, attempt, records in
                vertex == "count" && attempt < failures.count && records >= failures[attempt] && completed.value > attempt
            }))
        execution.onCheckpoint = { if $0.status == .completed { completed.increment() } }
        let result = try execution.run()
        let schedule = "mode \(mode), strategy \(strategyName), failures at \(failures)"
        #expect(result.failures.count == failures.count, "\(schedule): \(result.failures.count) failures injected")
        #expect(result.restoredFrom.count == failures.count, "\(schedule): restored \(result.restoredFrom)")
        #expect(result.checkpoints.contains { $0.status == .completed }, "\(schedule): no checkpoint completed")
        let lines = try ExactlyOnceTests.committed(scratch.appending("out"))
        #expect(lines.count == Self.expected.count, "\(schedule): \(lines.count) lines committed, \(Self.expected.count) expected")
        #expect(Self.difference(lines, Self.expected) == nil, "\(schedule): committed output differs from the failure-free run")
    }
}
