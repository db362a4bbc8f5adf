import Checkpointing
import Foundation
import KeyedState
import RocksKit
import Synchronization

/// Runs the keyed-count job for a while with a progress sample every second: what `weir run keyed-count` and
/// `weir-bench` share.
package enum KeyedCountRun {
    /// Everything a run can vary.
    package struct Settings: Sendable {
        /// The generator (keys, payload, seed, rate, optional record count).
        package var generator = GeneratorSource.Configuration()
        /// Parallelism of every vertex.
        package var parallelism = 2
        /// How long to run (nil: until a bounded generator ends).
        package var duration: Duration? = .seconds(10)
        /// Checkpoint root (nil: no checkpoints).
        package var checkpointDirectory: String?
        /// Working directory for RocksDB.
        package var workingDirectory: String
        /// Checkpoint interval.
        package var interval: Duration = .seconds(1)
        /// Snapshot strategy.
        package var strategy: SnapshotStrategy = .changelog()
        /// Barrier alignment.
        package var alignment: AlignmentMode = .aligned
        /// Sink sleep per 100 records (backpressure).
        package var sinkThrottle: Duration?
        /// Write exactly-once `key,count` files here instead of counting.
        package var outputDirectory: String?
        /// Resume from the latest checkpoint (`restoreSource` `.latest`).
        package var restore: Bool {
            get { self.restoreSource == .latest }
            set { self.restoreSource = newValue ? .latest : .empty }
        }
        /// Where to restore from.
        package var restoreSource: RestoreSource = .empty
        /// On a fresh start, delete the checkpoints already under the root (see `JobConfiguration`).
        package var clearCheckpointRoot = false
        /// Put payloads ≥ this into blob files (nil: off).
        package var minBlobSize: Int?
        /// Buffers per channel.
        package var channelCapacity = 4
        /// Bytes per channel buffer.
        package var bufferSize = 32 * 1024
        /// Keyed state engine.
        package var engine: StateEngine = .rocksDB(.perOperator)
        /// Failure injection: `(attempt, record number in a subtask) -> throw?`.
        package var failAt: (@Sendable (Int, Int64) -> Bool)?
        /// Called with the execution before it runs (to stop it from elsewhere: `JobExecution.stop()`).
        package var onStart: (@Sendable (JobExecution) -> Void)?
        /// Called after every completed or aborted checkpoint (coordinator thread).
        package var onCheckpoint: (@Sendable (CheckpointStatistics) -> Void)?

        /// Settings with the standard workload's defaults.
        package init(workingDirectory: String) { self.workingDirectory = workingDirectory }
    }

    /// One progress sample.
    package typealias Sample = SampledRun.Sample
    /// What the run did.
    package typealias Summary = SampledRun.Summary

    /// Runs the job; `onSample` is called once a second from a sampling thread.
    package static func run(_ settings: Settings, onSample: @escaping @Sendable (Sample) -> Void = { _ in }) throws(RuntimeError) -> Summary {
        let sink: KeyedCountSink = settings.outputDirectory.map { .files(directory: $0, throttle: settings.sinkThrottle) } ?? .counting(throttle: settings.sinkThrottle)
        let job = StreamJob.keyedCount(
            generator: settings.generator, parallelism: settings.parallelism,
            valueSeparation: settings.minBlobSize.map { ValueSeparation(minBlobSize: $0) }, sink: sink,
            failAt: settings.failAt)
        var configuration = JobConfiguration(
            checkpointing: settings.checkpointDirectory.map {
                CheckpointConfiguration(directory: $0, interval: settings.interval, strategy: settings.strategy, alignment: settings.alignment)
            },
            workingDirectory: settings.workingDirectory, engine: settings.engine,
            restore: settings.restoreSource, bufferSize: settings.bufferSize, channelCapacity: settings.channelCapacity)
        configuration.clearCheckpointRoot = settings.clearCheckpointRoot
        let execution = JobExecution(job: job, configuration: configuration)
        execution.onCheckpoint = settings.onCheckpoint
        settings.onStart?(execution)
        return try SampledRun.run(execution, duration: settings.duration, onSample: onSample)
    }
}
