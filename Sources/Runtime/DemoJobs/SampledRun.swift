import Dispatch
import Foundation
import Synchronization

/// Runs a job with a progress sample every second, for a while or until its input ends: what `weir run` and
/// `weir-bench` share for every built-in job.
package enum SampledRun {
    /// One progress sample.
    package struct Sample: Sendable {
        /// Seconds since the start.
        package var second: Int
        /// Records the sources emitted in the last second.
        package var recordsPerSecond: Int
        /// The job's progress figures.
        package var progress: JobExecution.Progress
    }

    /// What the run did.
    package struct Summary: Sendable {
        /// The run's result (checkpoints, failures, restores).
        package var result: JobExecution.Result
        /// Records emitted by the sources.
        package var records: Int
        /// Wall time.
        package var elapsed: Duration
        /// Records per second in each whole second.
        package var perSecond: [Int]
        /// Every attempt: what it restored (and how: fetch/open/replay or rollback in place), first record, failure.
        package var timelines: [AttemptTimeline]
    }

    /// Runs `execution` (cancelled after `duration`, nil: until the input ends); `onSample` is called once a second
    /// from a sampling thread.
    package static func run(
        _ execution: JobExecution, duration: Duration?, onSample: @escaping @Sendable (Sample) -> Void = { _ in }
    ) throws(RuntimeError) -> Summary {
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
                if let duration, ContinuousClock.now - started >= duration { execution.cancel() }
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
