import Foundation
import StateCore

/// A dedicated thread that runs submitted jobs one after another. File and RocksDB work runs here, never on the
/// Swift concurrency pool (which is only as wide as the core count).
final class WorkerThread: Sendable {
    private struct State: Sendable {
        var jobs: [@Sendable () -> Void] = []
        var next = 0
        var stopping = false
        var running = false
    }

    /// Every change signals, so an idle thread sleeps in long slices.
    private let monitor = Monitor(State(), slice: Limits.idleWaitSlice)

    /// Starts the thread.
    init(name: String) {
        let thread = Thread { [self] in self.loop() }
        thread.name = name
        thread.start()
    }

    /// Queues a job.
    func submit(_ job: @escaping @Sendable () -> Void) { self.monitor.withLock { $0.jobs.append(job) } }

    /// Blocks until every queued job has run.
    func drain() {
        self.monitor.waiting { state in
            state.next == state.jobs.count && !state.running ? .done((), signal: false) : .wait(seconds: nil)
        }
    }

    /// Runs the queued jobs, then ends the thread.
    func stop() {
        self.monitor.withLock { $0.stopping = true }
        self.drain()
    }

    private func loop() {
        while true {
            let job = self.monitor.waiting { state -> Monitor<State>.Step<(@Sendable () -> Void)?> in
                if state.next < state.jobs.count {
                    let job = state.jobs[state.next]
                    state.next += 1
                    // Drop the run jobs once the queue is empty (no O(n) removal per job).
                    if state.next == state.jobs.count {
                        state.jobs.removeAll(keepingCapacity: true)
                        state.next = 0
                    }
                    state.running = true
                    return .done(job)
                }
                return state.stopping ? .done(nil) : .wait(seconds: nil)
            }
            guard let job else { return }
            job()
            self.monitor.withLock { $0.running = false }  // wakes `drain`
        }
    }
}
