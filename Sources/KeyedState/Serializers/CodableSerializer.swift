#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StateCore

/// Any `Codable` type as length-prefixed JSON: the fallback for types without a hand-written serializer.
/// Slower and larger than the built-ins; give hot state a dedicated serializer.
public struct CodableSerializer<Value: Codable>: StateSerializer {
    /// The recorded schema; name it after the type and bump the version when its coding changes.
    public let schema: SerializerSchema

    /// Creates the serializer.
    /// - Parameters:
    ///   - name: The schema name; defaults to the type's name.
    ///   - version: The schema version.
    public init(name: String? = nil, version: Int = 1) {
        self.schema = SerializerSchema(name: name ?? "codable:\(String(reflecting: Value.self))", version: version)
    }

    /// Writes the JSON length and the JSON bytes.
    /// - Precondition: `Value` encodes (a type whose `encode(to:)` throws is a programmer error here).
    public func serialize(_ value: Value, into writer: inout ByteWriter) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data: Data
        do { data = try encoder.encode(value) } catch {
            preconditionFailure("\(self.schema): value does not encode as JSON: \(error)")
        }
        writer.writeVarint(UInt64(data.count))
        writer.writeBytes(data)
    }

    /// Reads the JSON length and decodes the JSON.
    public func deserialize(from reader: inout ByteReader) throws(SerializationError) -> Value {
        let bytes: [UInt8]
        do {
            let length = try reader.readLength()
            bytes = try reader.readBytes(count: length)
        } catch {
            throw SerializationError(schema: self.schema, error)
        }
        do {
            return try JSONDecoder().decode(Value.self, from: Data(bytes))
        } catch {
            throw SerializationError(schema: self.schema, message: "JSON does not decode: \(error)")
        }
    }
}
