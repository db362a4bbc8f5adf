/// A sink that counts and discards its records (benchmarks, the demo).
public final class CountingSink<Input>: SinkFunction {
    /// Records written to this subtask's sink.
    public private(set) var count = 0
    private var throttle: SinkThrottle?

    /// Creates a sink; with `throttle`, it sleeps that long after every 100 records (a slow consumer, for
    /// backpressure experiments).
    public init(throttle: Duration? = nil) {
        self.throttle = throttle.map(SinkThrottle.init)
    }

    /// Counts the record.
    public func write(_ value: Input) throws {
        self.count += 1
        self.throttle?.record()
    }
}

