import StateCore

/// `String` as a varint byte length followed by UTF-8. Schema `weir.string@1`.
public struct StringSerializer: StateSerializer {
    /// Creates the serializer.
    public init() {}
    /// `weir.string@1`.
    public var schema: SerializerSchema { SerializerSchema(name: "weir.string", version: 1) }
    /// Writes the length and the UTF-8 bytes.
    public func serialize(_ value: String, into writer: inout ByteWriter) {
        writer.writeVarint(UInt64(value.utf8.count))
        writer.writeString(value)
    }
    /// Reads the length and validates the UTF-8 bytes.
    public func deserialize(from reader: inout ByteReader) throws(SerializationError) -> String {
        do {
            let length = try reader.readLength()
            return try reader.readString(count: length)
        } catch {
            throw SerializationError(schema: self.schema, error)
        }
    }
}

extension StateSerializer where Self == StringSerializer {
    /// UTF-8 strings.
    public static var string: Self { Self() }
}
