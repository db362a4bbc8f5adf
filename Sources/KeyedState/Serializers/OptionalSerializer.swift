import StateCore

/// Optionals as a presence byte (0 or 1) followed by the value when present. Schema `weir.optional<wrapped>@1`.
public struct OptionalSerializer<Wrapped>: StateSerializer {
    /// The serializer of the wrapped value.
    public let wrapped: any StateSerializer<Wrapped>

    /// Creates an optional serializer over `wrapped`.
    public init(_ wrapped: any StateSerializer<Wrapped>) { self.wrapped = wrapped }

    /// `weir.optional<wrapped schema>@1`.
    public var schema: SerializerSchema {
        SerializerSchema(name: "weir.optional<\(self.wrapped.schema)>", version: 1)
    }

    /// Writes the presence byte and the value.
    public func serialize(_ value: Wrapped?, into writer: inout ByteWriter) {
        if let value {
            writer.writeUInt8(1)
            self.wrapped.serialize(value, into: &writer)
        } else {
            writer.writeUInt8(0)
        }
    }

    /// Reads the presence byte and the value.
    public func deserialize(from reader: inout ByteReader) throws(SerializationError) -> Wrapped? {
        let at = reader.offset
        let flag: UInt8
        do { flag = try reader.readUInt8() } catch { throw SerializationError(schema: self.schema, error) }
        switch flag {
        case 0: return nil
        case 1: return try self.wrapped.deserialize(from: &reader)
        default:
            throw SerializationError(schema: self.schema, .invalidValue(offset: at, what: "optional flag \(flag)"))
        }
    }
}
