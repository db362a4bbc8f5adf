#if canImport(Glibc)
import Glibc
#endif

/// A sink that counts and discards its records (benchmarks, the demo).
public final class CountingSink<Input>: SinkFunction {
    /// Records written to this subtask's sink.
    public private(set) var count = 0
    private let throttle: Duration?
    private var sinceSleep = 0

    /// Creates a sink; with `throttle`, it sleeps that long after every 100 records (a slow consumer, for
    /// backpressure experiments).
    public init(throttle: Duration? = nil) {
        self.throttle = throttle
    }

    /// Counts the record.
    public func write(_ value: Input) throws {
        self.count += 1
        guard let throttle else { return }
        self.sinceSleep += 1
        if self.sinceSleep >= 100 {
            self.sinceSleep = 0
            let (seconds, atto) = throttle.components
            var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(atto / 1_000_000_000))
            nanosleep(&request, nil)
        }
    }
}

