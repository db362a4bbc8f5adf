import KeyedState
import StateCore

/// A function applied to a keyed stream: for each record, the current key is set and the function reads and
/// writes keyed state through `context.state`, and emits records through `out`.
///
/// ```swift
/// struct KeyedCount: KeyedProcessFunction {
///     var count: ValueState<Int64, VoidNamespace>!
///     mutating func open(_ context: KeyedContext<Int64>) throws {
///         count = try context.state.valueState(ValueStateDescriptor("count", serializer: .int64))
///     }
///     mutating func process(_ record: GeneratedRecord, context: KeyedContext<Int64>, out: Collector<Int64>) throws {
///         let next = (try count.value() ?? 0) + 1
///         try count.update(next)
///         try out.collect(next)
///     }
/// }
/// ```
public protocol KeyedProcessFunction<Key, Input, Output>: SendableMetatype {
    /// The key type.
    associatedtype Key
    /// The record type in.
    associatedtype Input
    /// The record type out.
    associatedtype Output

    /// Registers states (called once per subtask, after the state was restored).
    mutating func open(_ context: KeyedContext<Key>) throws
    /// Handles one record; the context's current key is the record's.
    mutating func process(_ value: Input, context: KeyedContext<Key>, out: Collector<Output>) throws
    /// A timer of the current key fired (event time: the watermark passed `timestamp`; processing time: the wall
    /// clock did). Default: nothing.
    mutating func onTimer(_ timestamp: Int64, domain: TimeDomain, context: KeyedContext<Key>, out: Collector<Output>) throws
}

extension KeyedProcessFunction {
    /// Does nothing.
    public mutating func onTimer(_ timestamp: Int64, domain: TimeDomain, context: KeyedContext<Key>, out: Collector<Output>) throws {}
}

/// What a keyed function sees: the keyed state, the current key, and its subtask.
public final class KeyedContext<Key> {
    /// The subtask's keyed state (register states in `open`).
    public let state: KeyedStateBackend<Key>
    /// The job's name.
    public let job: String
    /// The vertex's name.
    public let vertex: String
    /// The subtask index.
    public let subtask: Int
    /// The vertex's parallelism.
    public let parallelism: Int
    /// The job attempt (0 first, +1 for each restart).
    public let attempt: Int
    /// The current watermark (event time), `Int64.min` before the first.
    public internal(set) var currentWatermark = Int64.min
    let timers: TimerService<Key>

    init(
        state: KeyedStateBackend<Key>, timers: TimerService<Key>, job: String, vertex: String, subtask: Int,
        parallelism: Int, attempt: Int
    ) {
        self.state = state
        self.timers = timers
        self.job = job
        self.vertex = vertex
        self.subtask = subtask
        self.parallelism = parallelism
        self.attempt = attempt
    }

    /// The wall clock in milliseconds since 1970 (the processing-time domain).
    public var currentProcessingTime: Int64 { SystemStateClock().nowMilliseconds() }

    /// Calls `onTimer` for the current key once the watermark passes `timestamp`. Kept in keyed state: it
    /// survives failures and rescaling. Registering the same timestamp twice registers one timer.
    public func registerEventTimeTimer(_ timestamp: Int64) throws { try self.timers.register(timestamp, domain: .eventTime) }

    /// Calls `onTimer` for the current key once the wall clock passes `timestamp` (milliseconds since 1970).
    public func registerProcessingTimeTimer(_ timestamp: Int64) throws { try self.timers.register(timestamp, domain: .processingTime) }

    /// Deletes the current key's event-time timer at `timestamp`.
    public func deleteEventTimeTimer(_ timestamp: Int64) throws { try self.timers.delete(timestamp, domain: .eventTime) }

    /// Deletes the current key's processing-time timer at `timestamp`.
    public func deleteProcessingTimeTimer(_ timestamp: Int64) throws { try self.timers.delete(timestamp, domain: .processingTime) }

    /// The key of the record being processed.
    public var currentKey: Key? { self.state.currentKey }
}

/// Where a function emits its output records.
public struct Collector<Output> {
    let downstream: (Output) throws -> Void

    /// Emits one record.
    public func collect(_ value: Output) throws { try self.downstream(value) }
}
