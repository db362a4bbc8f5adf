import Foundation
import KeyedState
import StateCore

/// Turns serialized bytes into readable text by serializer schema name, for the built-in serializers
/// (`weir.int64`, `weir.string`, `weir.optional<…>`, …). Other schemas cannot be delimited without their code:
/// they render as hex of the rest of the bytes, tagged with the schema's name.
indirect enum SchemaRenderer: Sendable {
    case signed(Int)
    case unsigned(Int)
    case float64, float32, bool, string, bytes, void
    case optional(SchemaRenderer)
    case array(SchemaRenderer)
    case opaque(String)

    /// The renderer for a schema name (with or without `@version`).
    init(name: String) {
        let base = name.split(separator: "@").first.map(String.init) ?? name
        switch base {
        case "weir.int8": self = .signed(8)
        case "weir.int16": self = .signed(16)
        case "weir.int32": self = .signed(32)
        case "weir.int64": self = .signed(64)
        case "weir.uint8": self = .unsigned(8)
        case "weir.uint16": self = .unsigned(16)
        case "weir.uint32": self = .unsigned(32)
        case "weir.uint64": self = .unsigned(64)
        case "weir.float64": self = .float64
        case "weir.float32": self = .float32
        case "weir.bool": self = .bool
        case "weir.string": self = .string
        case "weir.bytes": self = .bytes
        case "weir.void": self = .void
        default:
            if let inner = Self.inner(base, "weir.optional<") {
                self = .optional(SchemaRenderer(name: inner))
            } else if let inner = Self.inner(base, "weir.array<") {
                self = .array(SchemaRenderer(name: inner))
            } else {
                self = .opaque(name)
            }
        }
    }

    init(_ schema: SerializerSchema) { self.init(name: schema.name) }

    private static func inner(_ name: String, _ prefix: String) -> String? {
        guard name.hasPrefix(prefix), name.hasSuffix(">") else { return nil }
        return String(name.dropFirst(prefix.count).dropLast())
    }

    /// Whether the renderer knows where the value ends (an opaque schema does not).
    var isDelimited: Bool {
        switch self {
        case .opaque: false
        case .optional(let inner), .array(let inner): inner.isDelimited
        default: true
        }
    }

    /// Reads one value and returns it as JSON text (numbers, quoted strings, `null`, arrays; bytes and opaque
    /// values as `"hex:…"` strings).
    func render(_ reader: inout ByteReader) throws(SerializationError) -> String {
        switch self {
        case .signed(let bits):
            switch bits {
            case 8: return String(try IntegerSerializer<Int8>().deserialize(from: &reader))
            case 16: return String(try IntegerSerializer<Int16>().deserialize(from: &reader))
            case 32: return String(try IntegerSerializer<Int32>().deserialize(from: &reader))
            default: return String(try IntegerSerializer<Int64>().deserialize(from: &reader))
            }
        case .unsigned(let bits):
            switch bits {
            case 8: return "\(try IntegerSerializer<UInt8>().deserialize(from: &reader))"
            case 16: return "\(try IntegerSerializer<UInt16>().deserialize(from: &reader))"
            case 32: return "\(try IntegerSerializer<UInt32>().deserialize(from: &reader))"
            default: return "\(try IntegerSerializer<UInt64>().deserialize(from: &reader))"
            }
        case .float64: return "\(try FloatingPointSerializer<Double>().deserialize(from: &reader))"
        case .float32: return "\(try FloatingPointSerializer<Float>().deserialize(from: &reader))"
        case .bool: return "\(try BoolSerializer().deserialize(from: &reader))"
        case .string: return Self.quote(try StringSerializer().deserialize(from: &reader))
        case .bytes:
            do {
                let length = try reader.readLength()
                return "\"hex:" + (try reader.readHex(count: length)) + "\""
            } catch {
                throw SerializationError(schema: SerializerSchema(name: "weir.bytes", version: 1), error)
            }
        case .void:
            _ = try VoidNamespaceSerializer().deserialize(from: &reader)
            return "null"
        case .optional(let inner):
            let flag: UInt8
            do { flag = try reader.readUInt8() } catch {
                throw SerializationError(schema: SerializerSchema(name: "weir.optional", version: 1), error)
            }
            return flag == 0 ? "null" : try inner.render(&reader)
        case .array(let inner):
            let count: UInt64
            do { count = try reader.readVarint() } catch {
                throw SerializationError(schema: SerializerSchema(name: "weir.array", version: 1), error)
            }
            guard count <= UInt64(reader.remaining) || count <= 1 << 20 else {
                throw SerializationError(
                    schema: SerializerSchema(name: "weir.array", version: 1), message: "array count \(count) too large")
            }
            var items: [String] = []
            for _ in 0..<count { items.append(try inner.render(&reader)) }
            return "[" + items.joined(separator: ",") + "]"
        case .opaque(let name):
            return "\"\(name) hex:" + ((try? reader.readHex(count: reader.remaining)) ?? "") + "\""
        }
    }


    /// A JSON string literal.
    static func quote(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C }) { return "\"" + text + "\"" }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
