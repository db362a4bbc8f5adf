import StateCore
import Synchronization

/// A clock that moves only when told to, for TTL tests. Thread-safe: RocksDB's compaction threads read it.
public final class ManualStateClock: StateClock {
    private let milliseconds: Atomic<Int64>

    /// Creates a clock at `start` milliseconds since the epoch.
    public init(start: Int64 = 1_700_000_000_000) { self.milliseconds = Atomic(start) }

    /// The time the clock was last set to.
    public func nowMilliseconds() -> Int64 { self.milliseconds.load(ordering: .acquiring) }

    /// Moves the clock forward by `milliseconds`.
    public func advance(by milliseconds: Int64) {
        self.milliseconds.wrappingAdd(milliseconds, ordering: .acquiringAndReleasing)
    }
}
