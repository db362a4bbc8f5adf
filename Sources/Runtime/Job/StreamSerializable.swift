import KeyedState

/// A type with a default serializer for crossing a channel between tasks (`keyBy`, `rebalance`, `broadcast`),
/// and for keys of `keyBy`. `Int64` and `String` conform; a `Codable` type conforms with one line:
///
/// ```swift
/// struct Click: Codable { var user: String; var page: String }
/// extension Click: StreamSerializable {}          // JSON via CodableSerializer
/// stream.keyBy { $0.user }                          // key String, records Click
/// ```
///
/// Other types pass serializers to those calls (`keyBy(_:keySerializer:serializer:)`).
public protocol StreamSerializable {
    /// The serializer records of this type use on channels and in channel state.
    static var streamSerializer: any StateSerializer<Self> { get }
}

extension Int64: StreamSerializable {
    /// `weir.int64`.
    public static var streamSerializer: any StateSerializer<Int64> { IntegerSerializer<Int64>() }
}

extension String: StreamSerializable {
    /// `weir.string`.
    public static var streamSerializer: any StateSerializer<String> { StringSerializer() }
}

extension StreamSerializable where Self: Codable {
    /// Any `Codable` record crosses channels with one line, `extension Click: StreamSerializable {}`: JSON through
    /// `CodableSerializer` (schema `codable:<type>`). Give a faster serializer by implementing `streamSerializer`.
    public static var streamSerializer: any StateSerializer<Self> { CodableSerializer<Self>() }
}
