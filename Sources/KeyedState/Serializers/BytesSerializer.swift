import StateCore

/// `[UInt8]` as a varint length followed by the bytes. Schema `weir.bytes@1`.
public struct BytesSerializer: StateSerializer {
    /// Creates the serializer.
    public init() {}
    /// `weir.bytes@1`.
    public var schema: SerializerSchema { SerializerSchema(name: "weir.bytes", version: 1) }
    /// Writes the length and the bytes.
    @inlinable
    public func serialize(_ value: [UInt8], into writer: inout ByteWriter) { writer.writeLengthPrefixed(value) }
    /// Reads the length and copies the bytes.
    @inlinable
    public func deserialize(from reader: inout ByteReader) throws(SerializationError) -> [UInt8] {
        do {
            let length = try reader.readLength()
            return try reader.readBytes(count: length)
        } catch {
            throw SerializationError(schema: self.schema, error)
        }
    }
}

extension StateSerializer where Self == BytesSerializer {
    /// Byte arrays.
    public static var bytes: Self { Self() }
}
