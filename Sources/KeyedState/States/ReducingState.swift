import StateCore

/// One value per key and namespace that `add` folds in with the descriptor's reduce function
/// (Flink's `ReducingState`).
public final class ReducingState<Value, Namespace> {
    let accessor: StateAccessor<Namespace>
    let serializer: any StateSerializer<Value>
    let reduce: @Sendable (Value, Value) -> Value

    init(accessor: StateAccessor<Namespace>, serializer: any StateSerializer<Value>, reduce: @escaping @Sendable (Value, Value) -> Value) {
        self.accessor = accessor
        self.serializer = serializer
        self.reduce = reduce
    }

    /// The state's name.
    public var name: String { self.accessor.name }

    /// Sets the namespace for the following reads and writes.
    public func setCurrentNamespace(_ namespace: Namespace) { self.accessor.setNamespace(namespace) }

    /// The reduced value, or `nil` when nothing was added (or it expired).
    /// - Throws: `StateError`.
    public func get() throws(StateError) -> Value? {
        let key = try self.accessor.primaryKey()
        return try self.accessor.readSingle(key: key, primaryLength: key.count, serializer: self.serializer)
    }

    /// Folds `value` into the stored value (stores it when there is none).
    /// - Throws: `StateError`.
    public func add(_ value: Value) throws(StateError) {
        let current = try self.get()
        let next = current.map { self.reduce($0, value) } ?? value
        let key = try self.accessor.primaryKey()
        try self.accessor.core.store.put(
            self.accessor.column, key: key, primaryLength: key.count,
            value: self.accessor.encode(next, with: self.serializer))
    }

    /// Removes the value.
    /// - Throws: `StateError`.
    public func clear() throws(StateError) {
        let key = try self.accessor.primaryKey()
        try self.accessor.core.store.delete(self.accessor.column, key: key, primaryLength: key.count)
    }
}
