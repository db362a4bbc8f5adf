import StateCore

/// Fixed-width integers, big-endian (so unsigned keys sort numerically in RocksDB). Schema `weir.int64`,
/// `weir.uint32`, … version 1.
public struct IntegerSerializer<Value: FixedWidthInteger & Sendable>: StateSerializer {
    /// Creates the serializer.
    public init() {}

    /// `weir.(u)int<bits>@1`.
    public var schema: SerializerSchema {
        SerializerSchema(name: "weir.\(Value.isSigned ? "int" : "uint")\(Value.bitWidth)", version: 1)
    }

    /// Writes `bitWidth / 8` bytes.
    @inlinable
    @_specialize(exported: true, where Value == Int64)
    @_specialize(exported: true, where Value == Int32)
    @_specialize(exported: true, where Value == UInt64)
    public func serialize(_ value: Value, into writer: inout ByteWriter) { writer.writeInteger(value) }

    /// Reads `bitWidth / 8` bytes.
    @inlinable
    @_specialize(exported: true, where Value == Int64)
    @_specialize(exported: true, where Value == Int32)
    @_specialize(exported: true, where Value == UInt64)
    public func deserialize(from reader: inout ByteReader) throws(SerializationError) -> Value {
        do { return try reader.readInteger(as: Value.self) } catch { throw SerializationError(schema: self.schema, error) }
    }
}

/// `Int` as 8 bytes, so its format does not depend on the platform. Schema `weir.int64@1`.
public struct IntSerializer: StateSerializer {
    /// Creates the serializer.
    public init() {}
    /// `weir.int64@1`: the same bytes as `IntegerSerializer<Int64>`.
    public var schema: SerializerSchema { SerializerSchema(name: "weir.int64", version: 1) }
    /// Writes 8 bytes.
    @inlinable
    public func serialize(_ value: Int, into writer: inout ByteWriter) { writer.writeInteger(Int64(value)) }
    /// Reads 8 bytes.
    @inlinable
    public func deserialize(from reader: inout ByteReader) throws(SerializationError) -> Int {
        do { return Int(try reader.readInteger(as: Int64.self)) } catch {
            throw SerializationError(schema: self.schema, error)
        }
    }
}

extension StateSerializer where Self == IntegerSerializer<Int64> {
    /// 64-bit signed integers.
    public static var int64: Self { Self() }
}

extension StateSerializer where Self == IntegerSerializer<Int32> {
    /// 32-bit signed integers.
    public static var int32: Self { Self() }
}

extension StateSerializer where Self == IntegerSerializer<UInt64> {
    /// 64-bit unsigned integers.
    public static var uint64: Self { Self() }
}

extension StateSerializer where Self == IntegerSerializer<UInt32> {
    /// 32-bit unsigned integers.
    public static var uint32: Self { Self() }
}

extension StateSerializer where Self == IntSerializer {
    /// `Int`, stored as 64 bits.
    public static var int: Self { Self() }
}
