/// Time-to-live of state entries. Expired entries are never returned; reads drop them, and on RocksDB a
/// compaction filter removes them from disk.
///
/// With a TTL every value (every list element, every map entry) carries the 8-byte time it was written (and, with
/// `onReadAndWrite`, read). Reads delete the expired entries they find (list reads rewrite the survivors with
/// their original timestamps). On RocksDB `TTLCompactionFilter` drops expired entries; it only removes, never
/// rewrites. The clock is injected (`StateClock`) and thread-safe, since compaction threads call it.
public struct StateTTL: Sendable, Hashable, Codable {
    /// When an entry's timestamp is renewed.
    public enum UpdateType: String, Sendable, Hashable, Codable {
        /// On create and on every write (Flink's `OnCreateAndWrite`).
        case onCreateAndWrite
        /// On create, every write and every read (Flink's `OnReadAndWrite`).
        case onReadAndWrite
    }

    /// How long an entry lives after its timestamp, in milliseconds.
    public var timeToLiveMilliseconds: Int64
    /// When the timestamp is renewed.
    public var updateType: UpdateType

    /// Creates a TTL.
    /// - Parameters:
    ///   - timeToLive: How long an entry lives after its last renewal; positive.
    ///   - updateType: When entries are renewed. Default: on create and write.
    /// - Precondition: `timeToLive` is positive and at most `Limits.timeToLiveMillisecondsMax`.
    public init(timeToLive: Duration, updateType: UpdateType = .onCreateAndWrite) {
        let (seconds, attoseconds) = timeToLive.components
        let milliseconds = seconds * 1_000 + attoseconds / 1_000_000_000_000_000
        precondition(milliseconds > 0, "a TTL must be at least one millisecond")
        precondition(milliseconds <= 1 << 52, "a TTL must fit Limits.timeToLiveMillisecondsMax")
        self.timeToLiveMilliseconds = milliseconds
        self.updateType = updateType
    }

    /// Whether an entry stamped at `timestamp` has expired at `now` (both milliseconds since the epoch).
    @inlinable
    public func isExpired(timestamp: Int64, now: Int64) -> Bool {
        timestamp &+ self.timeToLiveMilliseconds <= now
    }
}
