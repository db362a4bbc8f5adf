import StateCore

/// One value per key and namespace (Flink's `ValueState`). Reads and writes apply to the backend's current key
/// and this state's current namespace.
public final class ValueState<Value, Namespace> {
    let accessor: StateAccessor<Namespace>
    let serializer: any StateSerializer<Value>

    init(accessor: StateAccessor<Namespace>, serializer: any StateSerializer<Value>) {
        self.accessor = accessor
        self.serializer = serializer
    }

    /// The state's name.
    public var name: String { self.accessor.name }
    /// The namespace reads and writes apply to.
    public var currentNamespace: Namespace { self.accessor.namespace }

    /// Sets the namespace for the following reads and writes.
    public func setCurrentNamespace(_ namespace: Namespace) { self.accessor.setNamespace(namespace) }

    /// The value for the current key and namespace, or `nil` when there is none (or it expired).
    /// - Throws: `StateError` (`.noCurrentKey`, `.corruptValue`, storage failures).
    public func value() throws(StateError) -> Value? {
        let key = try self.accessor.primaryKey()
        return try self.accessor.readSingle(key: key, primaryLength: key.count, serializer: self.serializer)
    }

    /// Replaces the value; `nil` clears it.
    /// - Throws: `StateError`; a failed update has no effect.
    public func update(_ value: Value?) throws(StateError) {
        guard let value else { return try self.clear() }
        let key = try self.accessor.primaryKey()
        let bytes = self.accessor.encode(value, with: self.serializer)
        try self.accessor.core.store.put(self.accessor.column, key: key, primaryLength: key.count, value: bytes)
    }

    /// Removes the value for the current key and namespace.
    /// - Throws: `StateError`.
    public func clear() throws(StateError) {
        let key = try self.accessor.primaryKey()
        try self.accessor.core.store.delete(self.accessor.column, key: key, primaryLength: key.count)
    }
}
