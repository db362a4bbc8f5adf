import KeyedState

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
}

/// What a keyed function sees: the keyed state, the current key, and its subtask.
public final class KeyedContext<Key> {
    /// The subtask's keyed state (register states in `open`).
    public let state: KeyedStateBackend<Key>
    /// The subtask index.
    public let subtask: Int
    /// The vertex's parallelism.
    public let parallelism: Int
    /// The job attempt (0 first, +1 for each restart).
    public let attempt: Int
    /// The current watermark (event time), `Int64.min` before the first.
    public internal(set) var currentWatermark = Int64.min

    init(state: KeyedStateBackend<Key>, subtask: Int, parallelism: Int, attempt: Int) {
        self.state = state
        self.subtask = subtask
        self.parallelism = parallelism
        self.attempt = attempt
    }

    /// The key of the record being processed.
    public var currentKey: Key? { self.state.currentKey }
}

/// Where a function emits its output records.
public struct Collector<Output> {
    let downstream: (Output) throws -> Void

    /// Emits one record.
    public func collect(_ value: Output) throws { try self.downstream(value) }
}
