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

/// `JobExecution.stop()`: the job ends with a last completed checkpoint that holds every record the sources
/// emitted, the sink has committed exactly what that checkpoint covers, and a restore from it reprocesses nothing
/// and ends with every `key,count` line exactly once. Aligned and unaligned (the stop barrier is always aligned),
/// per strategy.
@Suite(.serialized) struct GracefulStopTests {
    @Test(arguments: [0, 1], [0, 1])
    func aStoppedJobResumesWithNothingReprocessedAndNothingLost(modeIndex: Int, strategyIndex: Int) throws {
        let scratch = TemporaryDirectory(prefix: "weir-stop")
        defer { scratch.remove() }
        let mode = ExactlyOnceTests.modes[modeIndex]
        let (strategyName, strategy) = ExactlyOnceTests.strategies[strategyIndex]
        let label = "mode \(mode), strategy \(strategyName)"
        var settings = ExactlyOnceTests.settings(scratch, alignment: mode, strategy: strategy)
        // Slow records fill the channels, so unaligned checkpoints before the stop carry in-flight data.
        settings.failAt = { _, _ in
            usleep(100)
            return false
        }
        let execution = Mutex<JobExecution?>(nil)
        settings.onStart = { started in execution.withLock { $0 = started } }
        let completed = Counter()
        settings.onCheckpoint = { statistics in
            guard statistics.status == .completed, completed.increment() == 3 else { return }
            execution.withLock { $0 }?.stop()
        }
        let first = try KeyedCountRun.run(settings)
        #expect(first.result.failures.isEmpty, "\(label)")
        #expect(!first.result.cancelled, "\(label)")
        let stopped = try #require(first.result.stoppedAt, "\(label): the job did not stop with a checkpoint")
        #expect(first.records < Int(ExactlyOnceTests.records), "\(label): the input ended before the stop")
        let storage = try CheckpointStorage(root: scratch.appending("checkpoints"))
        #expect(storage.latest?.checkpointID == stopped, "\(label)")
        storage.close()
        // The sink committed exactly the records the stop checkpoint covers: a prefix of every key's counts.
        let committed = try ExactlyOnceTests.committed(scratch.appending("out"))
        #expect(committed.count == first.records, "\(label): \(committed.count) lines for \(first.records) records")

        // Resumed: the sources start where they stopped, and the whole input ends up committed exactly once.
        settings.restore = true
        settings.failAt = nil
        settings.onStart = nil
        settings.onCheckpoint = nil
        let second = try KeyedCountRun.run(settings)
        #expect(second.result.restoredFrom == [stopped], "\(label)")
        #expect(second.timelines.first?.restoredSourceRecords == first.records, "\(label): records reprocessed")
        let lines = try ExactlyOnceTests.committed(scratch.appending("out"))
        #expect(lines == ExactlyOnceTests.expected, "\(label): \(lines.count) lines, \(ExactlyOnceTests.expected.count) expected")
    }

    /// `weir run keyed-count` stopped by SIGTERM or SIGINT (Ctrl-C): exit 0 with a last checkpoint whose source
    /// positions cover every line committed; `--restore` then finishes the input with every line exactly once.
    @Test(arguments: [SIGTERM, SIGINT])
    func aSignalStopsTheCommandWithALastCheckpoint(signal: Int32) throws {
        let scratch = TemporaryDirectory(prefix: "weir-stop-cli")
        defer { scratch.remove() }
        let root = scratch.appending("checkpoints")
        let output = scratch.appending("out")
        let arguments = [
            "run", "keyed-count", "--keys", "\(ExactlyOnceTests.keys)", "--payload", "16",
            "--records", "\(ExactlyOnceTests.records)", "--rate", "8000", "--duration", "0",
            "--checkpoint-interval", "80", "--checkpoint-directory", root, "--output", output,
        ]
        let printed = Pipe()
        let process = try KillRecoveryTests.launch(arguments, scratch: scratch, output: printed)
        let deadline = ContinuousClock.now + .seconds(60)
        while KillRecoveryTests.latestCheckpoint(root) < 2 && process.isRunning && ContinuousClock.now < deadline {
            usleep(5_000)
        }
        #expect(process.isRunning, "the job ended before the signal")
        kill(process.processIdentifier, signal)
        let text = String(decoding: printed.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        let latest = KillRecoveryTests.latestCheckpoint(root)
        #expect(text.contains("stopped with checkpoint \(latest): resume with --restore"), "\(text)")
        let storage = try CheckpointStorage(root: root)
        let positions = (storage.latest?.tasks ?? [])
            .flatMap { $0.operatorState.filter { $0.key.hasSuffix(".next") }.compactMap { Int($0.value) } }
        storage.close()
        let committed = try ExactlyOnceTests.committed(output)
        #expect(!committed.isEmpty && committed.count < ExactlyOnceTests.expected.count, "\(committed.count) lines")
        #expect(positions.reduce(0, +) == committed.count, "source positions \(positions), \(committed.count) lines committed")

        try KillRecoveryTests.finish(arguments, scratch: scratch)
        #expect(try ExactlyOnceTests.committed(output) == ExactlyOnceTests.expected)
    }
}
