import Checkpointing
import Foundation
import Runtime
import StateTestSupport
import Testing

/// Stop the keyed-count job at a checkpoint with parallelism 2, restore it with 3 and with 1: the committed
/// output equals the unscaled run's (keyed state redistributed by key-group range, sink transactions kept).
@Suite(.serialized) struct RescalingTests {
    static func configuration(_ scratch: TemporaryDirectory, alignment: AlignmentMode, restore: RestoreSource) -> JobConfiguration {
        JobConfiguration(
            checkpointing: CheckpointConfiguration(
                directory: scratch.appending("checkpoints"), interval: .milliseconds(80),
                strategy: .changelog(materializationInterval: .milliseconds(200)), alignment: alignment),
            workingDirectory: scratch.appending("work"), restore: restore, channelCapacity: 4)
    }

    @Test(arguments: [3, 1], [AlignmentMode.aligned, .unaligned])
    func restoreWithAnotherParallelismGivesTheUnscaledOutput(parallelism: Int, alignment: AlignmentMode) throws {
        let scratch = TemporaryDirectory(prefix: "weir-rescale")
        defer { scratch.remove() }
        let generator = GeneratorSource.Configuration(
            keys: ExactlyOnceTests.keys, payloadBytes: 16, count: ExactlyOnceTests.records, rate: 16_000)
        // The first run is paced slower (the same records, 3 s of input) so that it is stopped at its fourth
        // checkpoint well before its input ends, however slow the machine's checkpoints are.
        var slower = generator
        slower.rate = 8_000
        let output = scratch.appending("out")
        let slow: @Sendable (Int, Int64) -> Bool = { _, record in
            if record % 4 == 0 { usleep(100) }
            return false
        }
        let first = JobExecution(
            job: .keyedCount(generator: slower, parallelism: 2, sourceParallelism: 2, sink: .files(directory: output), failAt: slow),
            configuration: Self.configuration(scratch, alignment: alignment, restore: .empty))
        first.onCheckpoint = { [unowned first] statistics in
            if statistics.status == .completed && statistics.checkpointID >= 4 { first.cancel() }
        }
        let stopped = try first.run()
        #expect(stopped.cancelled)
        let stopAt = try #require(stopped.checkpoints.last { $0.status == .completed }?.checkpointID)
        let partial = try ExactlyOnceTests.committed(output)
        #expect(partial.count < ExactlyOnceTests.expected.count, "the first run must stop before the end")

        let second = JobExecution(
            job: .keyedCount(generator: generator, parallelism: parallelism, sourceParallelism: 2, sink: .files(directory: output)),
            configuration: Self.configuration(scratch, alignment: alignment, restore: .latest))
        let resumed = try second.run()
        #expect(resumed.restoredFrom == [stopAt])
        #expect(resumed.failures.isEmpty, "\(resumed.failures.map(\.message))")
        let lines = try ExactlyOnceTests.committed(output)
        #expect(lines.count == ExactlyOnceTests.expected.count)
        #expect(lines == ExactlyOnceTests.expected, "rescaled 2 → \(parallelism) (\(alignment)): output differs from the unscaled run")
    }
}
