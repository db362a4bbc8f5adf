import Checkpointing
import Foundation
import Runtime
import RocksKit
import StateCore

/// What a recovery run recorded: source-record samples, checkpoints, attempts, peak memory. A kill run merges the
/// traces of two processes (the killed one and the restarted one); times are milliseconds since 1970.
struct RecoveryTrace: Codable, Sendable {
    /// Cumulative source records at a moment, within one segment (an attempt or a process).
    struct Sample: Codable, Sendable {
        var t: Int64
        var records: Int
        var segment: Int
    }

    /// One attempt's recovery figures.
    struct Attempt: Codable, Sendable {
        var restoredCheckpoint: Int64?
        var startedAt: Int64
        var restoredAt: Int64?
        var firstRecordAt: Int64?
        var failedAt: Int64?
        var fetchMs: Double = 0
        var openMs: Double = 0
        var replayMs: Double = 0
        var rollbackMs: Double = 0
        var replayedRecords = 0
        var fetchedBytes = 0
        var localBytes = 0
        var restoredSourceRecords = 0
        var sourceRecordsAtFailure: Int?

        init(_ timeline: AttemptTimeline) {
            self.restoredCheckpoint = timeline.restoredCheckpoint
            self.startedAt = timeline.startedAt
            self.restoredAt = timeline.restoredAt
            self.firstRecordAt = timeline.firstRecordAt
            self.failedAt = timeline.failedAt
            // Backends restore in parallel: each phase lasts as long as its slowest backend.
            self.fetchMs = timeline.restores.map { $0.fetch.milliseconds }.max() ?? 0
            self.openMs = timeline.restores.map { $0.open.milliseconds }.max() ?? 0
            self.replayMs = timeline.restores.map { $0.replay.milliseconds }.max() ?? 0
            self.rollbackMs = timeline.restores.map { $0.rollback.milliseconds }.max() ?? 0
            self.replayedRecords = timeline.restores.reduce(0) { $0 + $1.replayedRecords }
            self.fetchedBytes = timeline.restores.reduce(0) { $0 + $1.fetchedBytes }
            self.localBytes = timeline.restores.reduce(0) { $0 + $1.localBytes }
            self.restoredSourceRecords = timeline.restoredSourceRecords
            self.sourceRecordsAtFailure = timeline.sourceRecordsAtFailure
        }
    }

    /// One line of a child process's event file.
    struct Event: Codable, Sendable {
        var sample: Sample?
        var checkpoint: CheckpointStatistics?
        var attempts: [Attempt]?
        var peakRSSKiB: Int?
    }

    var startedAt: Int64
    var samples: [Sample] = []
    var checkpoints: [CheckpointStatistics] = []
    var attempts: [Attempt] = []
    var peakRSSKiB = 0

    mutating func add(_ event: Event) {
        if let sample = event.sample { self.samples.append(sample) }
        if let checkpoint = event.checkpoint { self.checkpoints.append(checkpoint) }
        if let attempts = event.attempts { self.attempts = attempts }
        if let rss = event.peakRSSKiB { self.peakRSSKiB = max(self.peakRSSKiB, rss) }
    }

    /// This process's peak resident set size.
    static var peakRSSKiB: Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return usage.ru_maxrss
    }

    static var now: Int64 { SystemStateClock().nowMilliseconds() }
}

/// Runs the standard workload in this process until `stopAt`, injecting a task exception at `failAt` when given,
/// and reports every event (samples every 50 ms, checkpoints, attempts) to `emit`.
enum RecoveryJob {
    static func run(
        _ options: RecoveryOptions, root: String, work: String, restore: Bool, failAt: Int64?, stopAt: Int64,
        emit: @escaping @Sendable (RecoveryTrace.Event) -> Void
    ) throws {
        var injector: (@Sendable (String, Int, Int, Int) -> Bool)?
        if let failAt {
            injector = { vertex, subtask, attempt, _ in
                attempt == 0 && vertex == "count" && subtask == 0 && RecoveryTrace.now >= failAt
            }
        }
        let execution = Self.execution(options, root: root, work: work, restore: restore, attempts: 3, injector: injector)
        execution.onCheckpoint = { emit(RecoveryTrace.Event(checkpoint: $0)) }
        let done = DispatchSemaphore(value: 0)
        let sampler = Thread {
            var tick = 0
            while done.wait(timeout: .now() + .milliseconds(50)) == .timedOut {
                let progress = execution.progress
                emit(RecoveryTrace.Event(sample: .init(t: RecoveryTrace.now, records: progress.sourceRecords, segment: 0)))
                tick += 1
                if tick % 10 == 0 {
                    emit(RecoveryTrace.Event(attempts: execution.timelines.map(RecoveryTrace.Attempt.init), peakRSSKiB: RecoveryTrace.peakRSSKiB))
                }
                if RecoveryTrace.now >= stopAt { execution.cancel() }
            }
        }
        sampler.start()
        defer { done.signal() }
        do throws(RuntimeError) {
            try execution.run()
        } catch {
            throw BenchFailure(description: "the job failed: \(error.message)")
        }
        emit(RecoveryTrace.Event(attempts: execution.timelines.map(RecoveryTrace.Attempt.init), peakRSSKiB: RecoveryTrace.peakRSSKiB))
    }
}

extension RecoveryJob {
    /// The standard workload's job as `options` shape it (the recovery benchmark's and the soak's), restarted up
    /// to `attempts` times at once after a failure that `injector` decides.
    static func execution(
        _ options: RecoveryOptions, root: String, work: String, restore: Bool, attempts: Int,
        injector: (@Sendable (String, Int, Int, Int) -> Bool)?
    ) -> JobExecution {
        let job = StreamJob.keyedCount(
            generator: GeneratorSource.Configuration(keys: options.keys, payloadBytes: options.payload, seed: options.seed),
            parallelism: options.parallelism,
            valueSeparation: options.kvSeparation ? ValueSeparation(minBlobSize: options.minBlobSize) : nil,
            sink: .counting(throttle: options.sinkThrottle > 0 ? .microseconds(options.sinkThrottle) : nil))
        let checkpointing = CheckpointConfiguration(
            directory: root, interval: .milliseconds(Int64(options.interval)), strategy: options.snapshotStrategy,
            alignment: options.alignmentMode)
        var configuration = JobConfiguration(
            checkpointing: checkpointing, workingDirectory: work, restartStrategy: .fixedDelay(attempts: attempts, delay: .zero),
            restore: restore ? .latest : .empty, failureInjector: injector)
        configuration.localRecovery = options.localRecovery
        configuration.channelCapacity = options.channelCapacity
        configuration.bufferDebloating = options.debloatTarget == 0 ? nil : BufferDebloating(target: .milliseconds(options.debloatTarget))
        configuration.engine = .rocksDB(options.rocksOptions)
        return JobExecution(job: job, configuration: configuration)
    }
}

/// A benchmark run that could not be measured (printed as `Error: …`, exit 1).
struct BenchFailure: Error, CustomStringConvertible {
    var description: String
}
