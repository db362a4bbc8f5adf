import StateCore

/// A value one thread waits for (or is called back with) and another provides.
final class Promise<Value: Sendable>: Sendable {
    private struct State: Sendable {
        var value: Value?
        var callbacks: [@Sendable (Value) -> Void] = []
    }

    private let monitor = Monitor(State(), slice: Limits.idleWaitSlice)

    /// Provides the value (once), then runs the callbacks waiting for it on this thread.
    func fulfill(_ value: Value) {
        let callbacks = self.monitor.withLock { state in
            state.value = value
            defer { state.callbacks = [] }
            return state.callbacks
        }
        for callback in callbacks { callback(value) }
    }

    /// Calls `body` with the value: at once on this thread if it is there, otherwise on the thread that provides it.
    func whenFulfilled(_ body: @escaping @Sendable (Value) -> Void) {
        let value = self.monitor.withLock(signalling: false) { state -> Value? in
            if state.value == nil { state.callbacks.append(body) }
            return state.value
        }
        if let value { body(value) }
    }

    /// Waits for the value.
    func wait() -> Value {
        self.monitor.waiting { state in
            state.value.map { .done($0, signal: false) } ?? .wait(seconds: nil)
        }
    }

    /// The value, if provided.
    var current: Value? { self.monitor.withLock(signalling: false) { $0.value } }
}
