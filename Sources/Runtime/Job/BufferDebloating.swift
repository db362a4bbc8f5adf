/// Settings of buffer debloating: how much time's worth of data may wait in front of a task.
public struct BufferDebloating: Sendable, Hashable {
    /// The time the queued input of a task should last at its measured throughput. Default 30 ms: an aligned
    /// barrier waits about that long behind the data queued ahead of it (measured: start delay p50 22 ms at 100 B
    /// records, against 82–99 ms with full 32 KiB buffers; less than 30 ms cost throughput on a 2-core machine).
    public var target: Duration
    /// The smallest buffer a producer sends when full. Default 1 KiB (smaller buffers cost a hand-over each).
    public var minimumBufferSize: Int
    /// How often the throughput is measured and the size adjusted. Default 100 ms.
    public var period: Duration
    /// Weight of the newest measurement in the smoothed throughput, in (0, 1]. Default 0.3 (about half a second
    /// of memory at the default period).
    public var smoothing: Double
    /// The least relative change that is applied. Default 0.1.
    public var threshold: Double

    /// Creates settings.
    public init(
        target: Duration = .milliseconds(30), minimumBufferSize: Int = 1024, period: Duration = .milliseconds(100),
        smoothing: Double = 0.3, threshold: Double = 0.1
    ) {
        self.target = target
        self.minimumBufferSize = minimumBufferSize
        self.period = period
        self.smoothing = smoothing
        self.threshold = threshold
    }
}
