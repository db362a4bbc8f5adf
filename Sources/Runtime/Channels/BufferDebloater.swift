/// Sizes a task's input buffers so the data queued in front of it lasts about `target` at the rate the task can
/// take it in (the idea of Flink's buffer debloating, FLIP-183). An aligned barrier waits behind that data, so
/// without it a back-pressured task's checkpoints start as late as its full channels take to drain (about 70 ms
/// at 100 B records, measured), however fast the snapshot itself is.
///
/// A pure state machine, driven by the consuming task's thread: `consumed` for every buffer taken in, `idle` for
/// time spent waiting for input, `tick` on every loop turn. At the end of each period it measures the task's
/// throughput over the time it was busy (time waiting for input does not count, so an idle task is not taken for
/// a slow one), smooths it, and returns the buffer size the producers should send from then on.
///
/// The size is set so that the buffers that can be in flight towards the task (channels × (capacity + 1)) hold
/// `BufferDebloating.target` of input, between its `minimumBufferSize` (1 KiB) and the configured `bufferSize`
/// (32 KiB). Producers read it from `InputGate.bufferSize` (atomic) after each buffer they send. Targets below 30 ms
/// cost throughput here: with little slack, one keyed task's hiccup blocks the shared sources and starves the
/// other. 4 KiB records stay at 32 KiB buffers (already ~5 ms of input).
public struct BufferDebloater: Sendable {
    /// The settings.
    public let configuration: BufferDebloating
    /// Buffers that can be in flight towards the task: its channels × (queued capacity + the producer's
    /// partly filled one).
    public let buffersInFlight: Int
    /// The largest buffer size (the configured network buffer size).
    public let maximumBufferSize: Int
    /// The size producers are asked to send now.
    public private(set) var bufferSize: Int
    private var periodStart: Duration
    private var bytes = 0
    private var idleTime = Duration.zero
    private var throughput: Double?

    /// Starts at the largest size, measuring from `now`.
    public init(configuration: BufferDebloating, channels: Int, capacity: Int, maximumBufferSize: Int, now: Duration) {
        self.configuration = configuration
        self.buffersInFlight = max(1, channels * (capacity + 1))
        self.maximumBufferSize = maximumBufferSize
        self.bufferSize = maximumBufferSize
        self.periodStart = now
    }

    /// The task took in a buffer of `count` bytes.
    public mutating func consumed(_ count: Int) { self.bytes += count }

    /// The task waited `duration` for input.
    public mutating func idle(_ duration: Duration) { self.idleTime += duration }

    /// Ends the period when it is over. Returns the new buffer size when it changed by more than the
    /// configuration's threshold, else nil.
    public mutating func tick(now: Duration) -> Int? {
        let elapsed = now - self.periodStart
        guard elapsed >= self.configuration.period else { return nil }
        let busy = elapsed - self.idleTime
        let bytes = self.bytes
        self.periodStart = now
        self.bytes = 0
        self.idleTime = .zero
        // A period the task spent almost all waiting says nothing about how fast it can go.
        guard bytes > 0, busy >= elapsed / 10 else { return nil }
        let measured = Double(bytes) * 1e9 / Double(busy.nanoseconds)
        let smoothed = self.throughput.map { $0 + self.configuration.smoothing * (measured - $0) } ?? measured
        self.throughput = smoothed
        let wanted = smoothed * Double(self.configuration.target.nanoseconds) / 1e9 / Double(self.buffersInFlight)
        let size = min(self.maximumBufferSize, max(self.configuration.minimumBufferSize, Int(wanted)))
        let change = abs(Double(size - self.bufferSize)) / Double(self.bufferSize)
        guard change > self.configuration.threshold else { return nil }
        self.bufferSize = size
        return size
    }
}
