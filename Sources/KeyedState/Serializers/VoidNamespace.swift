import StateCore

/// The namespace of state that has no namespace: one value per key. Serializes to zero bytes.
public struct VoidNamespace: Sendable, Hashable, Codable {
    /// The only value.
    public init() {}
}

/// Serializes `VoidNamespace` to nothing. Schema `weir.void@1`.
public struct VoidNamespaceSerializer: StateSerializer {
    /// Creates the serializer.
    public init() {}
    /// `weir.void@1`.
    public var schema: SerializerSchema { SerializerSchema(name: "weir.void", version: 1) }
    /// Writes nothing.
    public func serialize(_ value: VoidNamespace, into writer: inout ByteWriter) {}
    /// Reads nothing.
    public func deserialize(from reader: inout ByteReader) throws(SerializationError) -> VoidNamespace {
        VoidNamespace()
    }
}

extension StateSerializer where Self == VoidNamespaceSerializer {
    /// The serializer of `VoidNamespace`.
    public static var voidNamespace: Self { Self() }
}
