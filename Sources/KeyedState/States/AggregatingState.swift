import StateCore

/// One accumulator per key and namespace that `add` folds inputs into; `get` returns the function's result
/// (Flink's `AggregatingState`).
public final class AggregatingState<Input, Accumulator, Output, Namespace> {
    let accessor: StateAccessor<Namespace>
    let serializer: any StateSerializer<Accumulator>
    let function: any AggregateFunction<Input, Accumulator, Output>

    init(
        accessor: StateAccessor<Namespace>, serializer: any StateSerializer<Accumulator>,
        function: any AggregateFunction<Input, Accumulator, Output>
    ) {
        self.accessor = accessor
        self.serializer = serializer
        self.function = function
    }

    /// The state's name.
    public var name: String { self.accessor.name }

    /// Sets the namespace for the following reads and writes.
    public func setCurrentNamespace(_ namespace: Namespace) { self.accessor.setNamespace(namespace) }

    /// The aggregate's result, or `nil` when nothing was added (or it expired).
    /// - Throws: `StateError`.
    public func get() throws(StateError) -> Output? {
        try self.accumulator().map { self.function.result(of: $0) }
    }

    private func accumulator() throws(StateError) -> Accumulator? {
        let key = try self.accessor.primaryKey()
        return try self.accessor.readSingle(key: key, primaryLength: key.count, serializer: self.serializer)
    }

    /// Folds `input` into the accumulator (a new one when there is none).
    /// - Throws: `StateError`.
    public func add(_ input: Input) throws(StateError) {
        let current = try self.accumulator() ?? self.function.makeAccumulator()
        let next = self.function.add(input, to: current)
        let key = try self.accessor.primaryKey()
        try self.accessor.core.store.put(
            self.accessor.column, key: key, primaryLength: key.count,
            value: self.accessor.encode(next, with: self.serializer))
    }

    /// Removes the accumulator.
    /// - Throws: `StateError`.
    public func clear() throws(StateError) {
        let key = try self.accessor.primaryKey()
        try self.accessor.core.store.delete(self.accessor.column, key: key, primaryLength: key.count)
    }
}
