import KeyedState

/// A type with a default serializer for crossing a channel between tasks (`keyBy`, `rebalance`, `broadcast`).
/// Other types pass a serializer to those calls.
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
