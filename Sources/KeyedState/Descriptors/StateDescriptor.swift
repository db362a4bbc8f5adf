import RocksKit

/// What every state descriptor says: the name, the kind, TTL and value separation. The typed descriptors add
/// serializers and functions.
public struct StateOptions: Sendable, Hashable {
    /// Entry time-to-live, or `nil` for none.
    public var ttl: StateTTL?
    /// Key/value separation for this state on RocksDB (ignored by the heap backend), or `nil` for none.
    public var valueSeparation: ValueSeparation?

    /// Creates options; both default to off.
    public init(ttl: StateTTL? = nil, valueSeparation: ValueSeparation? = nil) {
        self.ttl = ttl
        self.valueSeparation = valueSeparation
    }
}

/// Describes a value state: one value per key and namespace.
public struct ValueStateDescriptor<Value>: Sendable {
    /// The state's name, unique in its backend.
    public var name: String
    /// The value serializer.
    public var serializer: any StateSerializer<Value>
    /// TTL and value separation.
    public var options: StateOptions

    /// Creates a descriptor.
    public init(_ name: String, serializer: any StateSerializer<Value>, options: StateOptions = StateOptions()) {
        self.name = name
        self.serializer = serializer
        self.options = options
    }
}

/// Describes a list state: a list of elements per key and namespace.
public struct ListStateDescriptor<Element>: Sendable {
    /// The state's name, unique in its backend.
    public var name: String
    /// The element serializer.
    public var serializer: any StateSerializer<Element>
    /// TTL (per element) and value separation.
    public var options: StateOptions

    /// Creates a descriptor.
    public init(_ name: String, serializer: any StateSerializer<Element>, options: StateOptions = StateOptions()) {
        self.name = name
        self.serializer = serializer
        self.options = options
    }
}

/// Describes a map state: a map per key and namespace.
public struct MapStateDescriptor<UserKey, UserValue>: Sendable {
    /// The state's name, unique in its backend.
    public var name: String
    /// The map-key serializer.
    public var keySerializer: any StateSerializer<UserKey>
    /// The map-value serializer.
    public var valueSerializer: any StateSerializer<UserValue>
    /// TTL (per entry) and value separation.
    public var options: StateOptions

    /// Creates a descriptor.
    public init(
        _ name: String,
        keySerializer: any StateSerializer<UserKey>,
        valueSerializer: any StateSerializer<UserValue>,
        options: StateOptions = StateOptions()
    ) {
        self.name = name
        self.keySerializer = keySerializer
        self.valueSerializer = valueSerializer
        self.options = options
    }
}

/// Describes a reducing state: one value that `add` folds in with `reduce`.
public struct ReducingStateDescriptor<Value>: Sendable {
    /// The state's name, unique in its backend.
    public var name: String
    /// The value serializer.
    public var serializer: any StateSerializer<Value>
    /// Combines the stored value (first) with an added one (second).
    public var reduce: @Sendable (Value, Value) -> Value
    /// TTL and value separation.
    public var options: StateOptions

    /// Creates a descriptor.
    public init(
        _ name: String,
        serializer: any StateSerializer<Value>,
        options: StateOptions = StateOptions(),
        reduce: @escaping @Sendable (Value, Value) -> Value
    ) {
        self.name = name
        self.serializer = serializer
        self.reduce = reduce
        self.options = options
    }
}

/// Folds inputs into an accumulator and reads a result from it (Flink's `AggregateFunction`).
public protocol AggregateFunction<Input, Accumulator, Output>: Sendable {
    /// What `add` takes.
    associatedtype Input
    /// What is stored.
    associatedtype Accumulator
    /// What `get` returns.
    associatedtype Output
    /// A new, empty accumulator.
    func makeAccumulator() -> Accumulator
    /// Folds `input` into `accumulator`.
    func add(_ input: Input, to accumulator: Accumulator) -> Accumulator
    /// The result of an accumulator.
    func result(of accumulator: Accumulator) -> Output
}

/// Describes an aggregating state: one accumulator per key and namespace.
public struct AggregatingStateDescriptor<Input, Accumulator, Output>: Sendable {
    /// The state's name, unique in its backend.
    public var name: String
    /// The accumulator serializer.
    public var accumulatorSerializer: any StateSerializer<Accumulator>
    /// The aggregate function.
    public var function: any AggregateFunction<Input, Accumulator, Output>
    /// TTL and value separation.
    public var options: StateOptions

    /// Creates a descriptor.
    public init(
        _ name: String,
        function: any AggregateFunction<Input, Accumulator, Output>,
        accumulatorSerializer: any StateSerializer<Accumulator>,
        options: StateOptions = StateOptions()
    ) {
        self.name = name
        self.function = function
        self.accumulatorSerializer = accumulatorSerializer
        self.options = options
    }
}
