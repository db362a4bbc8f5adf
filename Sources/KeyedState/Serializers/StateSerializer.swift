import StateCore

/// Turns values into bytes and back, for keys, namespaces and values of keyed state.
///
/// Output must be **self-delimiting**: a reader positioned at the start of a serialized value stops exactly at
/// its end. Keys, namespaces and map keys are concatenated into one RocksDB key, and this is what keeps them
/// unambiguous (fixed-width values are self-delimiting; variable ones write a length first).
///
/// Every serializer carries a `schema` (name + version) that is recorded with the state, so a later restore can
/// refuse an incompatible serializer before it touches any state.
public protocol StateSerializer<Value>: Sendable {
    /// The type this serializer writes.
    associatedtype Value

    /// The schema recorded with the state: bump `version` whenever the byte format changes.
    var schema: SerializerSchema { get }

    /// Appends the bytes of `value` to `writer`.
    func serialize(_ value: Value, into writer: inout ByteWriter)

    /// Reads one value, leaving the reader just past it.
    /// - Throws: `SerializationError` when the bytes are truncated or invalid.
    func deserialize(from reader: inout ByteReader) throws(SerializationError) -> Value
}

/// The identity of a serializer's byte format.
public struct SerializerSchema: Sendable, Hashable, Codable, CustomStringConvertible {
    /// A stable name, e.g. `weir.int64` or `com.example.Order`.
    public var name: String
    /// The format version; a different version is incompatible.
    public var version: Int

    /// Creates a schema.
    public init(name: String, version: Int) {
        self.name = name
        self.version = version
    }

    /// `name@version`.
    public var description: String { "\(self.name)@\(self.version)" }
}

/// Why bytes could not be turned into a value.
public struct SerializationError: Error, Sendable, CustomStringConvertible {
    /// The schema of the serializer that failed.
    public var schema: SerializerSchema
    /// What was wrong, with the byte offset.
    public var message: String

    /// Creates an error.
    public init(schema: SerializerSchema, message: String) {
        self.schema = schema
        self.message = message
    }

    /// Wraps a reader error.
    public init(schema: SerializerSchema, _ error: ByteReader.Error) {
        self.init(schema: schema, message: error.description)
    }

    /// `schema: message`.
    public var description: String { "\(self.schema): \(self.message)" }
}

extension StateSerializer {
    /// Serializes `value` into new bytes (for tests and tools; hot paths reuse a writer).
    public func bytes(of value: Value) -> [UInt8] {
        var writer = ByteWriter()
        self.serialize(value, into: &writer)
        return writer.bytes
    }

    /// Deserializes one value from `bytes` and requires that every byte was used.
    /// - Throws: `SerializationError`.
    public func value(from bytes: [UInt8]) throws(SerializationError) -> Value {
        try ByteReader.withReader(over: bytes) { reader throws(SerializationError) in
            let value = try self.deserialize(from: &reader)
            guard reader.isAtEnd else {
                throw SerializationError(
                    schema: self.schema, message: "\(reader.remaining) bytes left over at byte \(reader.offset)")
            }
            return value
        }
    }
}
