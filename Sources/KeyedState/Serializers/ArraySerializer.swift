import StateCore

/// Arrays as a varint element count followed by each element. Schema `weir.array<element>@1`.
public struct ArraySerializer<Element>: StateSerializer {
    /// The serializer of the elements.
    public let element: any StateSerializer<Element>

    /// Creates an array serializer over `element`.
    public init(_ element: any StateSerializer<Element>) { self.element = element }

    /// `weir.array<element schema>@1`.
    public var schema: SerializerSchema {
        SerializerSchema(name: "weir.array<\(self.element.schema)>", version: 1)
    }

    /// Writes the count and the elements.
    public func serialize(_ value: [Element], into writer: inout ByteWriter) {
        writer.writeVarint(UInt64(value.count))
        for item in value { self.element.serialize(item, into: &writer) }
    }

    /// Reads the count and the elements; a count larger than the remaining bytes is rejected before allocating.
    public func deserialize(from reader: inout ByteReader) throws(SerializationError) -> [Element] {
        let at = reader.offset
        let count: UInt64
        do { count = try reader.readVarint() } catch { throw SerializationError(schema: self.schema, error) }
        // Every element takes at least one byte except zero-size ones; bound the reservation by the bytes left.
        guard count <= UInt64(Limits.valueBytesMax) else {
            throw SerializationError(schema: self.schema, .invalidValue(offset: at, what: "array count \(count)"))
        }
        var result: [Element] = []
        result.reserveCapacity(Int(min(count, UInt64(reader.remaining))))
        for _ in 0..<count { result.append(try self.element.deserialize(from: &reader)) }
        return result
    }
}
