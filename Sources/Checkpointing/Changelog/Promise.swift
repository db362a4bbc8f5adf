import Foundation

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
