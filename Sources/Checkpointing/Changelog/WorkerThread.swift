import Foundation

/// A dedicated thread that runs submitted jobs one after another. File and RocksDB work runs here, never on the
/// Swift concurrency pool (which is only as wide as the core count).
final class WorkerThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var stopping = false
    private var running = false

    /// Starts the thread.
    init(name: String) {
        let thread = Thread { [self] in self.loop() }
        thread.name = name
        thread.start()
    }

    /// Queues a job.
    func submit(_ job: @escaping @Sendable () -> Void) {
        self.condition.lock()
        self.jobs.append(job)
        self.condition.signal()
        self.condition.unlock()
    }

    /// Blocks until every queued job has run.
    func drain() {
        self.condition.lock()
        while !self.jobs.isEmpty || self.running { self.condition.wait() }
        self.condition.unlock()
    }

    /// Runs the queued jobs, then ends the thread.
    func stop() {
        self.condition.lock()
        self.stopping = true
        self.condition.broadcast()
        self.condition.unlock()
        self.drain()
    }

    private func loop() {
        while true {
            self.condition.lock()
            while self.jobs.isEmpty && !self.stopping { self.condition.wait() }
            if self.jobs.isEmpty && self.stopping {
                self.condition.unlock()
                return
            }
            let job = self.jobs.removeFirst()
            self.running = true
            self.condition.unlock()
            job()
            self.condition.lock()
            self.running = false
            self.condition.broadcast()
            self.condition.unlock()
        }
    }
}
