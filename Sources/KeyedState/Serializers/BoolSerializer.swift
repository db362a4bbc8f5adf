import StateCore

/// `Bool` as one byte, 0 or 1; any other byte is rejected. Schema `weir.bool@1`.
public struct BoolSerializer: StateSerializer {
    /// Creates the serializer.
    public init() {}
    /// `weir.bool@1`.
    public var schema: SerializerSchema { SerializerSchema(name: "weir.bool", version: 1) }
    /// Writes one byte.
    public func serialize(_ value: Bool, into writer: inout ByteWriter) { writer.writeUInt8(value ? 1 : 0) }
    /// Reads one byte.
    public func deserialize(from reader: inout ByteReader) throws(SerializationError) -> Bool {
        let at = reader.offset
        let byte: UInt8
        do { byte = try reader.readUInt8() } catch { throw SerializationError(schema: self.schema, error) }
        switch byte {
        case 0: return false
        case 1: return true
        default: throw SerializationError(schema: self.schema, .invalidValue(offset: at, what: "Bool byte \(byte)"))
        }
    }
}

extension StateSerializer where Self == BoolSerializer {
    /// Booleans.
    public static var bool: Self { Self() }
}
