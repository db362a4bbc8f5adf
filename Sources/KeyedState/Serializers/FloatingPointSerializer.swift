import StateCore

/// `Double` and `Float` by their IEEE 754 bit pattern, big-endian. Schema `weir.float64@1` / `weir.float32@1`.
public struct FloatingPointSerializer<Value: BinaryFloatingPoint & Sendable>: StateSerializer
where Value.RawSignificand: FixedWidthInteger {
    /// Creates the serializer.
    /// - Precondition: `Value` is `Double` or `Float`.
    public init() {
        precondition(Value.self == Double.self || Value.self == Float.self, "only Double and Float are supported")
    }

    /// `weir.float64@1` or `weir.float32@1`.
    public var schema: SerializerSchema {
        SerializerSchema(name: Value.self == Double.self ? "weir.float64" : "weir.float32", version: 1)
    }

    /// Writes 8 (Double) or 4 (Float) bytes.
    public func serialize(_ value: Value, into writer: inout ByteWriter) {
        if let double = value as? Double {
            writer.writeInteger(double.bitPattern)
        } else {
            writer.writeInteger(Float(value).bitPattern)
        }
    }

    /// Reads 8 (Double) or 4 (Float) bytes.
    public func deserialize(from reader: inout ByteReader) throws(SerializationError) -> Value {
        do {
            if Value.self == Double.self {
                return Value(Double(bitPattern: try reader.readInteger(as: UInt64.self)))
            }
            return Value(Float(bitPattern: try reader.readInteger(as: UInt32.self)))
        } catch {
            throw SerializationError(schema: self.schema, error)
        }
    }
}

extension StateSerializer where Self == FloatingPointSerializer<Double> {
    /// 64-bit floating point.
    public static var double: Self { Self() }
}

extension StateSerializer where Self == FloatingPointSerializer<Float> {
    /// 32-bit floating point.
    public static var float: Self { Self() }
}
