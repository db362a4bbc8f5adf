import RocksKit

/// What a backend records about a registered state, so a second registration (or a restore) can be checked
/// against it before any state is touched. Stored as JSON in RocksDB's default column family.
///
/// Registering a name twice with different metadata throws `incompatibleRegistration`. Reopening a backend
/// (`reopen: true`) first reads the stored metadata in a separate open (`RocksStateStore.init`), so merge
/// operators, TTL filters and blob options are configured before the real open, and registering with another
/// schema throws `incompatibleSerializer` before any state is read.
public struct StateMetadata: Sendable, Hashable, Codable {
    /// The state's name.
    public var name: String
    /// The state's kind.
    public var kind: StateKind
    /// The schema of the backend's key serializer.
    public var keySchema: SerializerSchema
    /// The schema of the namespace serializer.
    public var namespaceSchema: SerializerSchema
    /// The schema of the value (value/reducing), element (list), accumulator (aggregating) or map-value serializer.
    public var valueSchema: SerializerSchema
    /// The schema of the map-key serializer (map state only).
    public var userKeySchema: SerializerSchema?
    /// TTL, if any.
    public var ttl: StateTTL?
    /// Value separation, if any.
    public var valueSeparation: ValueSeparation?

    /// The differences from `other` as phrases ("kind map vs value"), empty when compatible.
    func differences(from other: StateMetadata) -> [String] {
        var found: [String] = []
        if self.kind != other.kind { found.append("kind \(other.kind.rawValue) vs \(self.kind.rawValue)") }
        if self.keySchema != other.keySchema { found.append("key serializer \(other.keySchema) vs \(self.keySchema)") }
        if self.namespaceSchema != other.namespaceSchema {
            found.append("namespace serializer \(other.namespaceSchema) vs \(self.namespaceSchema)")
        }
        if self.valueSchema != other.valueSchema {
            found.append("value serializer \(other.valueSchema) vs \(self.valueSchema)")
        }
        if self.userKeySchema != other.userKeySchema {
            found.append(
                "map-key serializer \(other.userKeySchema?.description ?? "none") vs "
                    + "\(self.userKeySchema?.description ?? "none")")
        }
        if self.ttl != other.ttl { found.append("TTL \(Self.describe(other.ttl)) vs \(Self.describe(self.ttl))") }
        if self.valueSeparation != other.valueSeparation { found.append("value separation differs") }
        return found
    }

    private static func describe(_ ttl: StateTTL?) -> String {
        ttl.map { "\($0.timeToLiveMilliseconds) ms \($0.updateType.rawValue)" } ?? "none"
    }
}
