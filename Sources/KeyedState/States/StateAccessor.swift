import StateCore

/// What every state kind does the same way: builds `keyGroup ‖ key ‖ namespace` keys for the current key,
/// stamps and checks TTL timestamps, and reports decoding failures with the state's name and key group.
final class StateAccessor<Namespace> {
    let core: BackendCore
    let name: String
    let column: Int
    let ttl: StateTTL?
    let namespaceSerializer: any StateSerializer<Namespace>
    private(set) var namespace: Namespace
    @exclusivity(unchecked) private var namespaceBytes: [UInt8]

    init(
        core: BackendCore, name: String, column: Int, ttl: StateTTL?,
        namespaceSerializer: any StateSerializer<Namespace>, namespace: Namespace
    ) {
        self.core = core
        self.name = name
        self.column = column
        self.ttl = ttl
        self.namespaceSerializer = namespaceSerializer
        self.namespace = namespace
        self.namespaceBytes = namespaceSerializer.bytes(of: namespace)
    }

    func setNamespace(_ namespace: Namespace) {
        self.namespace = namespace
        self.namespaceBytes = self.namespaceSerializer.bytes(of: namespace)
    }

    /// `keyGroup ‖ key ‖ namespace` for the current key, in the core's key scratch.
    @inline(__always)
    func primaryKey() throws(StateError) -> [UInt8] {
        guard self.core.hasCurrentKey else {
            try self.core.checkOpen()
            throw StateError(
                code: .noCurrentKey,
                message: "state '\(self.name)' was used before setCurrentKey(_:); set the key of the record first",
                stateName: self.name)
        }
        self.core.keyScratch.removeAll()
        self.core.keyScratch.writeBytes(self.core.currentPrefix)
        self.core.keyScratch.writeBytes(self.namespaceBytes)
        return self.core.keyScratch.bytes
    }

    /// The primary key followed by a map key.
    func entryKey<UserKey>(_ userKey: UserKey, serializer: any StateSerializer<UserKey>) throws(StateError)
        -> (key: [UInt8], primaryLength: Int)
    {
        let primaryLength = try self.primaryKey().count
        serializer.serialize(userKey, into: &self.core.keyScratch)
        return (self.core.keyScratch.bytes, primaryLength)
    }

    var now: Int64 { self.core.clock.nowMilliseconds() }

    /// Encodes `[timestamp ‖] value` into the value scratch.
    @inline(__always)
    func encode<Value>(_ value: Value, with serializer: any StateSerializer<Value>) -> [UInt8] {
        self.core.valueScratch.removeAll()
        if self.ttl != nil { self.core.valueScratch.writeInteger(self.now) }
        serializer.serialize(value, into: &self.core.valueScratch)
        return self.core.valueScratch.bytes
    }

    /// Decodes `[timestamp ‖] value`; `nil` when the entry expired.
    @inline(__always)
    func decode<Value>(_ reader: inout ByteReader, with serializer: any StateSerializer<Value>, now: Int64)
        throws(StateError) -> Value?
    {
        if let ttl = self.ttl {
            let timestamp: Int64
            do { timestamp = try reader.readInteger(as: Int64.self) } catch {
                throw self.corrupt(SerializationError(schema: serializer.schema, error))
            }
            if ttl.isExpired(timestamp: timestamp, now: now) { return nil }
        }
        do { return try serializer.deserialize(from: &reader) } catch { throw self.corrupt(error) }
    }

    func corrupt(_ error: SerializationError) -> StateError {
        StateError(
            code: .corruptValue,
            message: "state '\(self.name)', key group \(self.core.currentKeyGroup): a stored entry does not decode "
                + "with \(error.schema): \(error.message). The state was written with another serializer or its "
                + "files are damaged; restore from the last checkpoint.",
            stateName: self.name, cause: error)
    }

    /// Reads the single value under `key`, deleting it when expired and renewing it on read when the TTL asks.
    func readSingle<Value>(key: [UInt8], primaryLength: Int, serializer: any StateSerializer<Value>)
        throws(StateError) -> Value?
    {
        let now = self.ttl == nil ? 0 : self.now
        var expired = false
        let value: Value? = try self.core.store.get(self.column, key: key, primaryLength: primaryLength) {
            reader throws(StateError) -> Value? in
            guard var found = reader else { return nil }
            let decoded = try self.decode(&found, with: serializer, now: now)
            expired = decoded == nil
            return decoded
        }
        if expired {
            try self.core.store.delete(self.column, key: key, primaryLength: primaryLength)
        } else if let value, self.ttl?.updateType == .onReadAndWrite {
            try self.core.store.put(
                self.column, key: key, primaryLength: primaryLength, value: self.encode(value, with: serializer))
        }
        return value
    }
}
