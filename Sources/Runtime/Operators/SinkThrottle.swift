#if canImport(Glibc)
import Glibc
#endif

/// A deliberately slow consumer: sleeps `pause` after every 100 records (for backpressure experiments and
/// tests). Shared by the sinks that take a `throttle`.
struct SinkThrottle {
    private let pause: Duration
    private var sinceSleep = 0

    init(_ pause: Duration) { self.pause = pause }

    /// Counts one record; every 100th sleeps.
    mutating func record() {
        self.sinceSleep += 1
        guard self.sinceSleep >= 100 else { return }
        self.sinceSleep = 0
        let (seconds, atto) = self.pause.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(atto / 1_000_000_000))
        nanosleep(&request, nil)
    }
}
