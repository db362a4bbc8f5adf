import Checkpointing
import Foundation
import Runtime
import StateCore
import StateTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The committed output of the keyed-count job with the transactional file sink, run with injected failures,
/// equals the output of a run without failures: every `key,count` line exactly once.
@Suite(.serialized) struct ExactlyOnceTests {
    static let records: Int64 = 24_000
    static let keys: Int64 = 500

    /// Every line a failure-free run commits, sorted: for each key, `key,1` … `key,n`.
    static let expected: [String] = {
        let configuration = GeneratorSource.Configuration(keys: keys, payloadBytes: 16, count: records)
        var counts: [Int64: Int64] = [:]
        var lines: [String] = []
        for index in 0..<records {
            let key = GeneratorSource.key(of: index, configuration: configuration)
            counts[key, default: 0] += 1
            lines.append("\(key),\(counts[key]!)")
        }
        return lines.sorted()
    }()

    /// The lines of every committed file under `directory`, sorted.
    static func committed(_ directory: String) throws -> [String] { try Simulation.committed(directory) }

    static func settings(_ scratch: TemporaryDirectory, alignment: AlignmentMode, strategy: SnapshotStrategy) -> KeyedCountRun.Settings {
        var settings = KeyedCountRun.Settings(workingDirectory: scratch.appending("work"))
        settings.generator = GeneratorSource.Configuration(keys: Self.keys, payloadBytes: 16, count: Self.records)
        settings.duration = nil
        settings.checkpointDirectory = scratch.appending("checkpoints")
        settings.outputDirectory = scratch.appending("out")
        settings.interval = .milliseconds(60)
        settings.alignment = alignment
        settings.strategy = strategy
        settings.channelCapacity = 4
        return settings
    }

    static let strategies: [(String, SnapshotStrategy)] = [
        ("changelog", .changelog(materializationInterval: .milliseconds(300))), ("incremental", .incremental), ("full", .full),
    ]
    static let modes: [AlignmentMode] = [.aligned, .unaligned, .alignmentTimeout(.milliseconds(5))]

    @Test(arguments: [0, 1, 2], [0, 1, 2])
    func taskFailuresAtSeededPointsLoseAndDuplicateNothing(modeIndex: Int, strategyIndex: Int) throws {
        let scratch = TemporaryDirectory(prefix: "weir-eo")
        defer { scratch.remove() }
        let mode = Self.modes[modeIndex]
        let (strategyName, strategy) = Self.strategies[strategyIndex]
        var random = SeededGenerator(seed: UInt64(modeIndex * 10 + strategyIndex + 1))
        // Each attempt but the last fails at a seeded record of one subtask; every record is slowed a little so
        // channels fill up and unaligned checkpoints have in-flight data to persist.
        let failures = [Int64(7_000 + random.next() % 4_000), Int64(2_000 + random.next() % 3_000)]
        var settings = Self.settings(scratch, alignment: mode, strategy: strategy)
        let completed = Counter()
        settings.onCheckpoint = { if $0.status == .completed { completed.increment() } }
        // The first failure waits for a completed checkpoint, so the restart restores one.
        settings.failAt = { attempt, record in
            if record % 4 == 0 { usleep(200) }
            return attempt < failures.count && record >= failures[attempt] && completed.value > 0
        }
        let summary = try KeyedCountRun.run(settings)
        let schedule = "mode \(mode), strategy \(strategyName), failures at \(failures)"
        #expect(!summary.result.failures.isEmpty, "\(schedule): no failure was injected")
        #expect(!summary.result.restoredFrom.isEmpty, "\(schedule): no restart restored a checkpoint")
        // Local recovery is on: every restart after a task exception rolls the parked RocksDB backends back in
        // place, or — incremental — re-links the local copy of the checkpoint, fetching nothing.
        for (previous, timeline) in zip(summary.timelines, summary.timelines.dropFirst()) where timeline.restoredCheckpoint != nil {
            #expect(!timeline.restores.isEmpty, "\(schedule): attempt \(timeline.attempt) restored no backend")
            // A changelog checkpoint taken while a rollback's deferred keys are still left alone takes no rollback
            // point (`CheckpointedBackend.postponesSettling`): a failure soon after a rolled-back restart restores
            // that newer checkpoint normally. Whether one completed first depends on timing (seen under load).
            let postponed = strategy.kind == .changelog && previous.restores.contains(where: \.rolledBack)
                && timeline.restoredCheckpoint != previous.restoredCheckpoint
            if postponed {
                continue
            } else if strategy.kind == .incremental {
                let local = timeline.restores.allSatisfy { !$0.rolledBack && $0.fetchedBytes == 0 && $0.localBytes > 0 }
                #expect(local, "\(schedule): attempt \(timeline.attempt) did not restore from its local copies")
            } else {
                let rolledBack = timeline.restores.allSatisfy(\.rolledBack)
                #expect(rolledBack, "\(schedule): attempt \(timeline.attempt) restored without rollback")
            }
        }
        let lines = try Self.committed(scratch.appending("out"))
        #expect(lines.count == Self.expected.count, "\(schedule): \(lines.count) lines committed, \(Self.expected.count) expected")
        #expect(lines == Self.expected, "\(schedule): committed output differs from the failure-free run")
        if mode == .unaligned {
            #expect(summary.result.checkpoints.contains { $0.inflightBytes > 0 }, "\(schedule): no unaligned checkpoint persisted in-flight data")
        }
    }
}

/// A thread-safe count.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    /// Counts one and returns the new count.
    @discardableResult
    func increment() -> Int { self.count.add(1, ordering: .relaxed).newValue }
    var value: Int { self.count.load(ordering: .relaxed) }
}
