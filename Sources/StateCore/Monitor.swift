import Foundation
import Synchronization

/// State behind one lock, with a condition to sleep on until it changes: Swift's `Mutex` plus the waiting it lacks.
///
/// The lock is an `NSCondition`; the state sits in a `Mutex` that is only ever taken while the condition is held
/// (so it is never contended), which lets the compiler check every access and keeps the type `Sendable` without
/// `@unchecked`. `waiting(_:)` re-runs its step under the lock until the step is done, sleeping in between: the
/// check and the sleep are atomic, so a change made (and signalled) by another thread is never missed.
///
/// ```swift
/// let queue = Monitor<[Int]>([])
/// queue.withLock { $0.append(1) }                          // wakes the waiters
/// let first = queue.waiting { items in
///     items.isEmpty ? .wait(seconds: nil) : .done(items.removeFirst())
/// }
/// ```
public final class Monitor<State: Sendable>: Sendable {
    /// What a step of `waiting(_:)` decided.
    public enum Step<Result: Sendable>: Sendable {
        /// Return this; wake every waiter first unless `signal` is false (nothing changed that one waits for).
        case done(Result, signal: Bool = true)
        /// Sleep until a signal or for at most `seconds` (nil: no deadline), then run the step again.
        case wait(seconds: Double?)
    }

    private let condition = NSCondition()
    private let state: Mutex<State>
    /// The longest single sleep (seconds): a safety net, since every change a waiter waits for signals.
    public let slice: Double

    /// A monitor over `initial`; sleeps last at most `slice` seconds before the step is checked again.
    public init(_ initial: State, slice: Double = Limits.channelWaitSlice) {
        self.state = Mutex(initial)
        self.slice = slice
    }

    /// Runs `body` on the state under the lock; afterwards wakes every waiter (unless `signalling` is false: a
    /// read, or a change nobody waits for).
    @discardableResult
    public func withLock<R: Sendable, E: Error>(signalling: Bool = true, _ body: (inout State) throws(E) -> R) throws(E) -> R {
        self.condition.lock()
        defer {
            if signalling { self.condition.broadcast() }
            self.condition.unlock()
        }
        return try self.state.withLock { (state: inout State) throws(E) -> R in try body(&state) }
    }

    /// Runs `step` under the lock until it returns `.done`, sleeping between runs (the lock released) until
    /// another thread's `withLock` signals, the step's deadline, or `slice`.
    public func waiting<R: Sendable>(_ step: (inout State) -> Step<R>) -> R {
        self.condition.lock()
        defer { self.condition.unlock() }
        while true {
            let decision = self.state.withLock { (state: inout State) -> Step<R> in step(&state) }
            switch decision {
            case .done(let result, let signal):
                if signal { self.condition.broadcast() }
                return result
            case .wait(let seconds):
                let sleep = min(max(seconds ?? self.slice, 0), self.slice)
                _ = self.condition.wait(until: Date(timeIntervalSinceNow: sleep + 0.0002))
            }
        }
    }

    /// Wakes every waiter, without changing the state.
    public func signal() {
        self.condition.lock()
        self.condition.broadcast()
        self.condition.unlock()
    }
}
