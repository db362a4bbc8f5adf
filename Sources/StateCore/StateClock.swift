#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock time in milliseconds since the Unix epoch, as TTL sees it. Injected so tests can move time by hand.
/// Called from RocksDB's compaction threads too, so implementations must be thread-safe.
public protocol StateClock: Sendable {
    /// The current time in milliseconds since 1970-01-01T00:00:00Z.
    func nowMilliseconds() -> Int64
}

/// The system's real-time clock.
public struct SystemStateClock: StateClock {
    /// Creates the system clock.
    public init() {}

    /// The current real time in milliseconds since the Unix epoch.
    public func nowMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000 + Int64(spec.tv_nsec) / 1_000_000
    }
}
