import KeyedState
import Metrics

/// Event-time windows: tumbling (`size == slide`) or sliding (`slide < size`), aligned to timestamp 0.
public struct WindowAssigner: Sendable, Hashable {
    /// Window length.
    public var size: Int64
    /// Distance between window starts.
    public var slide: Int64

    /// Windows `[k·size, (k+1)·size)`.
    public static func tumbling(size: Int64) -> WindowAssigner { WindowAssigner(size: size, slide: size) }

    /// Windows `[k·slide, k·slide + size)`; a record is in `size / slide` of them.
    public static func sliding(size: Int64, slide: Int64) -> WindowAssigner { WindowAssigner(size: size, slide: slide) }

    /// The starts of every window holding `timestamp`, latest first.
    func starts(of timestamp: Int64) -> [Int64] {
        var start = timestamp - ((timestamp % self.slide) + self.slide) % self.slide
        var starts: [Int64] = []
        while start > timestamp - self.size {
            starts.append(start)
            start -= self.slide
        }
        return starts
    }
}

/// One window's aggregate for one key.
public struct WindowResult<Key, Value>: CustomStringConvertible {
    /// The key.
    public var key: Key
    /// Window start (inclusive).
    public var start: Int64
    /// Window end (exclusive).
    public var end: Int64
    /// The aggregate.
    public var value: Value

    /// `key,start,end,value`.
    public var description: String { "\(self.key),\(self.start),\(self.end),\(self.value)" }
}

extension WindowResult: Sendable where Key: Sendable, Value: Sendable {}

/// What a window operator emits when late records are wanted: results, and the records too late for every
/// window they belong to (past the allowed lateness).
public enum WindowEvent<Key, Input, Value> {
    /// A window's result: when the watermark passes its end, and again for each late record within the allowed
    /// lateness (the updated aggregate).
    case result(WindowResult<Key, Value>)
    /// A record whose windows were all closed (watermark past `end - 1 + allowedLateness`): not aggregated.
    case late(Input)
}

extension WindowEvent: Sendable where Key: Sendable, Input: Sendable, Value: Sendable {}

/// Aggregates each key's records per event-time window in keyed state (namespace = window start) and emits the
/// result when the watermark passes the window's end (an event-time timer at `end - 1`). A window's state is kept
/// `allowedLateness` longer (a cleanup timer at `end - 1 + allowedLateness`): a record arriving meanwhile updates it
/// and emits the updated result at once. Records later than that are counted (`weir_window_late_records_dropped`)
/// (dimensions `job`, `vertex`, `subtask`) and, when `emitsLate`, emitted as `.late`.
struct WindowAggregate<Key, Input, Accumulator>: KeyedProcessFunction {
    let assigner: WindowAssigner
    let allowedLateness: Int64
    let emitsLate: Bool
    let timestamp: @Sendable (Input) -> Int64
    let initial: Accumulator
    let add: @Sendable (Accumulator, Input) -> Accumulator
    let serializer: any StateSerializer<Accumulator>
    var accumulator: ValueState<Accumulator, Int64>?
    /// Late records dropped by this subtask.
    var dropped = 0
    private var droppedMetric: Counter?

    init(
        assigner: WindowAssigner, allowedLateness: Int64, emitsLate: Bool,
        timestamp: @escaping @Sendable (Input) -> Int64, initial: Accumulator,
        add: @escaping @Sendable (Accumulator, Input) -> Accumulator, serializer: any StateSerializer<Accumulator>
    ) {
        self.assigner = assigner
        self.allowedLateness = max(allowedLateness, 0)
        self.emitsLate = emitsLate
        self.timestamp = timestamp
        self.initial = initial
        self.add = add
        self.serializer = serializer
    }

    mutating func open(_ context: KeyedContext<Key>) throws {
        self.accumulator = try context.state.valueState(
            ValueStateDescriptor("window-accumulator", serializer: self.serializer), namespaceSerializer: .int64, namespace: 0)
        self.droppedMetric = Counter(
            label: "weir_window_late_records_dropped",
            dimensions: [("job", context.job), ("vertex", context.vertex), ("subtask", String(context.subtask))])
    }

    mutating func process(
        _ value: Input, context: KeyedContext<Key>, out: Collector<WindowEvent<Key, Input, Accumulator>>
    ) throws {
        let time = self.timestamp(value)
        var taken = false
        for start in self.assigner.starts(of: time) {
            let end = start + self.assigner.size
            // Closed for good: the watermark passed the end plus the allowed lateness.
            guard end - 1 + self.allowedLateness > context.currentWatermark else { continue }
            taken = true
            self.accumulator!.setCurrentNamespace(start)
            let updated = self.add(try self.accumulator!.value() ?? self.initial, value)
            try self.accumulator!.update(updated)
            if end - 1 > context.currentWatermark {
                try context.registerEventTimeTimer(end - 1)
            } else if let key = context.currentKey {
                // Late but within the allowed lateness: the window fired already; emit its updated result.
                try out.collect(.result(WindowResult(key: key, start: start, end: end, value: updated)))
            }
            if self.allowedLateness > 0 { try context.registerEventTimeTimer(end - 1 + self.allowedLateness) }
        }
        guard !taken else { return }
        self.dropped += 1
        self.droppedMetric?.increment()
        if self.emitsLate { try out.collect(.late(value)) }
    }

    /// `timestamp` is the end - 1 of the window to fire, the end - 1 + allowedLateness of the window to clean up,
    /// or both (sliding windows share timestamps).
    mutating func onTimer(
        _ timestamp: Int64, domain: TimeDomain, context: KeyedContext<Key>,
        out: Collector<WindowEvent<Key, Input, Accumulator>>
    ) throws {
        guard let key = context.currentKey else { return }
        let fire = timestamp + 1 - self.assigner.size
        self.accumulator!.setCurrentNamespace(fire)
        if let value = try self.accumulator!.value() {
            if self.allowedLateness == 0 { try self.accumulator!.clear() }
            try out.collect(.result(WindowResult(key: key, start: fire, end: timestamp + 1, value: value)))
        }
        guard self.allowedLateness > 0 else { return }
        let cleanup = timestamp + 1 - self.allowedLateness - self.assigner.size
        self.accumulator!.setCurrentNamespace(cleanup)
        try self.accumulator!.clear()
    }
}

extension KeyedStream {
    /// Aggregates each key's records per event-time window (new vertex `name`): `add` folds a record into the
    /// accumulator (starting at `initial`, kept in keyed state with `serializer`); the result is emitted when the
    /// watermark passes the window's end. Use `assignWatermarks` upstream.
    /// - Parameter allowedLateness: How long after a window's end (in event time) its state is kept: a record
    ///   arriving meanwhile updates the window and emits its updated result. Later records are dropped and counted
    ///   in `weir_window_late_records_dropped`; `windowAggregateWithLateRecords` emits them instead.
    public func windowAggregate<Accumulator>(
        name: String, _ assigner: WindowAssigner, parallelism: Int? = nil, allowedLateness: Int64 = 0,
        timestamp: @escaping @Sendable (T) -> Int64, initial: Accumulator, serializer: any StateSerializer<Accumulator>,
        add: @escaping @Sendable (Accumulator, T) -> Accumulator
    ) -> DataStream<WindowResult<Key, Accumulator>> where Accumulator: Sendable {
        self.windowEvents(
            name: name, assigner, parallelism: parallelism, allowedLateness: allowedLateness, emitsLate: false,
            timestamp: timestamp, initial: initial, serializer: serializer, add: add
        ).flatMap { event in
            guard case .result(let result) = event else { return [] }
            return [result]
        }
    }

    /// `windowAggregate` with a late-data output: the stream carries each window result as `.result` and each
    /// record too late for all its windows (past `allowedLateness`) as `.late` (Flink's late-data side output).
    public func windowAggregateWithLateRecords<Accumulator>(
        name: String, _ assigner: WindowAssigner, parallelism: Int? = nil, allowedLateness: Int64 = 0,
        timestamp: @escaping @Sendable (T) -> Int64, initial: Accumulator, serializer: any StateSerializer<Accumulator>,
        add: @escaping @Sendable (Accumulator, T) -> Accumulator
    ) -> DataStream<WindowEvent<Key, T, Accumulator>> where Accumulator: Sendable {
        self.windowEvents(
            name: name, assigner, parallelism: parallelism, allowedLateness: allowedLateness, emitsLate: true,
            timestamp: timestamp, initial: initial, serializer: serializer, add: add)
    }

    private func windowEvents<Accumulator>(
        name: String, _ assigner: WindowAssigner, parallelism: Int?, allowedLateness: Int64, emitsLate: Bool,
        timestamp: @escaping @Sendable (T) -> Int64, initial: Accumulator, serializer: any StateSerializer<Accumulator>,
        add: @escaping @Sendable (Accumulator, T) -> Accumulator
    ) -> DataStream<WindowEvent<Key, T, Accumulator>> where Accumulator: Sendable {
        self.process(name: name, parallelism: parallelism) {
            WindowAggregate<Key, T, Accumulator>(
                assigner: assigner, allowedLateness: allowedLateness, emitsLate: emitsLate,
                timestamp: timestamp, initial: initial, add: add, serializer: serializer)
        }
    }
}
