import Foundation

/// A dedicated thread that runs submitted jobs one after another. File and RocksDB work runs here, never on the
/// Swift concurrency pool (which is only as wide as the core count).
final class BackgroundWorker: @unchecked Sendable {
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

/// A value one thread waits for (or is called back with) and another provides.
final class Promise<Value: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: Value?
    private var callbacks: [@Sendable (Value) -> Void] = []

    /// Provides the value (once), then runs the callbacks waiting for it on this thread.
    func fulfill(_ value: Value) {
        self.condition.lock()
        self.value = value
        let callbacks = self.callbacks
        self.callbacks = []
        self.condition.broadcast()
        self.condition.unlock()
        for callback in callbacks { callback(value) }
    }

    /// Calls `body` with the value: at once on this thread if it is there, otherwise on the thread that provides it.
    func whenFulfilled(_ body: @escaping @Sendable (Value) -> Void) {
        self.condition.lock()
        guard let value = self.value else {
            self.callbacks.append(body)
            self.condition.unlock()
            return
        }
        self.condition.unlock()
        body(value)
    }

    /// Waits for the value.
    func wait() -> Value {
        self.condition.lock()
        defer { self.condition.unlock() }
        while self.value == nil { self.condition.wait() }
        return self.value!
    }

    /// The value, if provided.
    var current: Value? {
        self.condition.lock()
        defer { self.condition.unlock() }
        return self.value
    }
}
