import StateCore

/// A map per key and namespace (Flink's `MapState`). Each entry is its own RocksDB key,
/// `keyGroup ‖ key ‖ namespace ‖ map key`, so iterating one map is one prefix scan. Iteration order is the byte
/// order of the serialized map keys on RocksDB and unspecified on the heap backend.
public final class MapState<UserKey, UserValue, Namespace> {
    let accessor: StateAccessor<Namespace>
    let keySerializer: any StateSerializer<UserKey>
    let valueSerializer: any StateSerializer<UserValue>

    init(
        accessor: StateAccessor<Namespace>, keySerializer: any StateSerializer<UserKey>,
        valueSerializer: any StateSerializer<UserValue>
    ) {
        self.accessor = accessor
        self.keySerializer = keySerializer
        self.valueSerializer = valueSerializer
    }

    /// The state's name.
    public var name: String { self.accessor.name }

    /// Sets the namespace for the following reads and writes.
    public func setCurrentNamespace(_ namespace: Namespace) { self.accessor.setNamespace(namespace) }

    /// The value under `key`, or `nil`.
    /// - Throws: `StateError`.
    public func get(_ key: UserKey) throws(StateError) -> UserValue? {
        let (entry, primaryLength) = try self.accessor.entryKey(key, serializer: self.keySerializer)
        return try self.accessor.readSingle(key: entry, primaryLength: primaryLength, serializer: self.valueSerializer)
    }

    /// Sets the value under `key`.
    /// - Throws: `StateError`.
    public func put(_ key: UserKey, _ value: UserValue) throws(StateError) {
        let (entry, primaryLength) = try self.accessor.entryKey(key, serializer: self.keySerializer)
        let bytes = self.accessor.encode(value, with: self.valueSerializer)
        try self.accessor.core.store.put(self.accessor.column, key: entry, primaryLength: primaryLength, value: bytes)
    }

    /// Sets several entries.
    /// - Throws: `StateError`.
    public func putAll(_ entries: some Sequence<(UserKey, UserValue)>) throws(StateError) {
        for (key, value) in entries { try self.put(key, value) }
    }

    /// Removes the entry under `key` (a no-op when there is none).
    /// - Throws: `StateError`.
    public func remove(_ key: UserKey) throws(StateError) {
        let (entry, primaryLength) = try self.accessor.entryKey(key, serializer: self.keySerializer)
        try self.accessor.core.store.delete(self.accessor.column, key: entry, primaryLength: primaryLength)
    }

    /// Whether there is a (live) entry under `key`.
    /// - Throws: `StateError`.
    public func contains(_ key: UserKey) throws(StateError) -> Bool { try self.get(key) != nil }

    /// Visits every live entry until `body` returns `false`, streaming from storage.
    /// - Parameter body: Gets each entry; returns whether to go on.
    /// - Throws: `StateError`.
    public func forEach(_ body: (UserKey, UserValue) throws(StateError) -> Bool) throws(StateError) {
        let prefix = try self.accessor.primaryKey()
        let accessor = self.accessor
        let now = accessor.ttl == nil ? 0 : accessor.now
        try accessor.core.store.scan(accessor.column, prefix: prefix) { key, value throws(StateError) -> Bool in
            var key = key
            var value = value
            let userKey: UserKey
            do {
                try key.skip(prefix.count)
                userKey = try self.keySerializer.deserialize(from: &key)
            } catch let error as SerializationError {
                throw accessor.corrupt(error)
            } catch {
                throw accessor.corrupt(SerializationError(schema: self.keySerializer.schema, message: "\(error)"))
            }
            guard let userValue = try accessor.decode(&value, with: self.valueSerializer, now: now) else {
                return true
            }
            return try body(userKey, userValue)
        }
    }

    /// Every live entry.
    /// - Throws: `StateError`.
    public func entries() throws(StateError) -> [(key: UserKey, value: UserValue)] {
        var result: [(key: UserKey, value: UserValue)] = []
        try self.forEach { key, value in
            result.append((key, value))
            return true
        }
        return result
    }

    /// Every live map key.
    /// - Throws: `StateError`.
    public func keys() throws(StateError) -> [UserKey] { try self.entries().map(\.key) }

    /// Every live map value.
    /// - Throws: `StateError`.
    public func values() throws(StateError) -> [UserValue] { try self.entries().map(\.value) }

    /// Whether the map has no live entry.
    /// - Throws: `StateError`.
    public func isEmpty() throws(StateError) -> Bool {
        var empty = true
        try self.forEach { _, _ in
            empty = false
            return false
        }
        return empty
    }

    /// Removes every entry of the current key and namespace.
    /// - Throws: `StateError`.
    public func clear() throws(StateError) {
        let prefix = try self.accessor.primaryKey()
        try self.accessor.core.store.deletePrefix(self.accessor.column, prefix: prefix)
    }
}
