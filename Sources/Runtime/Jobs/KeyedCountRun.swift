import Checkpointing
import Foundation
import KeyedState
import RocksKit
import Synchronization

/// Runs the keyed-count job for a while with a progress sample every second: what `weir run keyed-count` and
/// `weir-bench` share.
public enum KeyedCountRun {
    /// Everything a run can vary.
    public struct Settings: Sendable {
        /// The generator (keys, payload, seed, rate, optional record count).
        public var generator = GeneratorSource.Configuration()
        /// Parallelism of every vertex.
        public var parallelism = 2
        /// How long to run (nil: until a bounded generator ends).
        public var duration: Duration? = .seconds(10)
        /// Checkpoint root (nil: no checkpoints).
        public var checkpointDirectory: String?
        /// Working directory for RocksDB.
        public var workingDirectory: String
        /// Checkpoint interval.
        public var interval: Duration = .seconds(1)
        /// Snapshot strategy.
        public var strategy: SnapshotStrategy = .changelog()
        /// Barrier alignment.
        public var alignment: AlignmentMode = .aligned
        /// Sink sleep per 100 records (backpressure).
        public var sinkThrottle: Duration?
        /// Write exactly-once `key,count` files here instead of counting.
        public var outputDirectory: String?
        /// Resume from the latest checkpoint.
        public var restore = false
        /// Put payloads ≥ this into blob files (nil: off).
        public var minBlobSize: Int?
        /// Buffers per channel.
        public var channelCapacity = 4
        /// Keyed state engine.
        public var engine: StateEngine = .rocksDB(.perOperator)
        /// Failure injection: `(attempt, record number in a subtask) -> throw?`.
        public var failAt: (@Sendable (Int, Int64) -> Bool)?
        /// Called after every completed or aborted checkpoint (coordinator thread).
        public var onCheckpoint: (@Sendable (CheckpointStatistics) -> Void)?

        /// Settings with the standard workload's defaults.
        public init(workingDirectory: String) { self.workingDirectory = workingDirectory }
    }

    /// One progress sample.
    public struct Sample: Sendable {
        /// Seconds since the start.
        public var second: Int
        /// Records the sources emitted in the last second.
        public var recordsPerSecond: Int
        /// The job's progress figures.
        public var progress: JobExecution.Progress
    }

    /// What the run did.
    public struct Summary: Sendable {
        /// The run's result (checkpoints, failures, restores).
        public var result: JobExecution.Result
        /// Records emitted by the sources.
        public var records: Int
        /// Wall time.
        public var elapsed: Duration
        /// Records per second in each whole second.
        public var perSecond: [Int]
        /// Every attempt: what it restored (and how: fetch/open/replay or rollback in place), first record, failure.
        public var timelines: [AttemptTimeline]
    }

    /// Runs the job; `onSample` is called once a second from a sampling thread.
    public static func run(_ settings: Settings, onSample: @escaping @Sendable (Sample) -> Void = { _ in }) throws(RuntimeError) -> Summary {
        let sink: KeyedCountSink = settings.outputDirectory.map { .files(directory: $0) } ?? .counting(throttle: settings.sinkThrottle)
        let job = StreamJob.keyedCount(
            generator: settings.generator, parallelism: settings.parallelism,
            valueSeparation: settings.minBlobSize.map { ValueSeparation(minBlobSize: $0) }, sink: sink,
            failAt: settings.failAt)
        let configuration = JobConfiguration(
            checkpointing: settings.checkpointDirectory.map {
                CheckpointConfiguration(directory: $0, interval: settings.interval, strategy: settings.strategy, alignment: settings.alignment)
            },
            workingDirectory: settings.workingDirectory, engine: settings.engine,
            restore: settings.restore ? .latest : .empty, channelCapacity: settings.channelCapacity)
        let execution = JobExecution(job: job, configuration: configuration)
        execution.onCheckpoint = settings.onCheckpoint
        let done = DispatchSemaphore(value: 0)
        let samples = SampleLog()
        let started = ContinuousClock.now
        let sampler = Thread {
            var last = 0
            var second = 0
            while done.wait(timeout: .now() + .seconds(1)) == .timedOut {
                second += 1
                let progress = execution.progress
                let rate = progress.sourceRecords - last
                last = progress.sourceRecords
                samples.append(rate)
                onSample(Sample(second: second, recordsPerSecond: rate, progress: progress))
                if let duration = settings.duration, ContinuousClock.now - started >= duration { execution.cancel() }
            }
        }
        sampler.start()
        defer { done.signal() }
        let result = try execution.run()
        return Summary(
            result: result, records: execution.progress.sourceRecords, elapsed: ContinuousClock.now - started,
            perSecond: samples.values, timelines: execution.timelines)
    }
}

/// Per-second rates, appended by the sampler.
final class SampleLog: Sendable {
    private let stored = Mutex<[Int]>([])
    func append(_ value: Int) { self.stored.withLock { $0.append(value) } }
    var values: [Int] { self.stored.withLock { $0 } }
}
