import KeyedState

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

/// Aggregates each key's records per event-time window in keyed state (namespace = window start) and emits the
/// result when the watermark passes the window's end (an event-time timer at `end - 1`). Records for windows the
/// watermark already passed are dropped and counted.
struct WindowAggregate<Key, Input, Accumulator>: KeyedProcessFunction {
    let assigner: WindowAssigner
    let timestamp: @Sendable (Input) -> Int64
    let initial: Accumulator
    let add: @Sendable (Accumulator, Input) -> Accumulator
    let serializer: any StateSerializer<Accumulator>
    var accumulator: ValueState<Accumulator, Int64>?
    /// Late records dropped by this subtask.
    var dropped = 0

    mutating func open(_ context: KeyedContext<Key>) throws {
        self.accumulator = try context.state.valueState(
            ValueStateDescriptor("window-accumulator", serializer: self.serializer), namespaceSerializer: .int64, namespace: 0)
    }

    mutating func process(_ value: Input, context: KeyedContext<Key>, out: Collector<WindowResult<Key, Accumulator>>) throws {
        let time = self.timestamp(value)
        for start in self.assigner.starts(of: time) {
            let end = start + self.assigner.size
            guard end - 1 > context.currentWatermark else {
                self.dropped += 1
                continue
            }
            self.accumulator!.setCurrentNamespace(start)
            try self.accumulator!.update(self.add(try self.accumulator!.value() ?? self.initial, value))
            try context.registerEventTimeTimer(end - 1)
        }
    }

    mutating func onTimer(
        _ timestamp: Int64, domain: TimeDomain, context: KeyedContext<Key>, out: Collector<WindowResult<Key, Accumulator>>
    ) throws {
        let start = timestamp + 1 - self.assigner.size
        self.accumulator!.setCurrentNamespace(start)
        guard let value = try self.accumulator!.value(), let key = context.currentKey else { return }
        try self.accumulator!.clear()
        try out.collect(WindowResult(key: key, start: start, end: timestamp + 1, value: value))
    }
}

extension KeyedStream {
    /// Aggregates each key's records per event-time window (new vertex `name`): `add` folds a record into the
    /// accumulator (starting at `initial`, kept in keyed state with `serializer`); the result is emitted when the
    /// watermark passes the window's end. Use `assignWatermarks` upstream.
    public func windowAggregate<Accumulator>(
        name: String, _ assigner: WindowAssigner, parallelism: Int? = nil, timestamp: @escaping @Sendable (T) -> Int64,
        initial: Accumulator, serializer: any StateSerializer<Accumulator>,
        add: @escaping @Sendable (Accumulator, T) -> Accumulator
    ) -> DataStream<WindowResult<Key, Accumulator>> where Accumulator: Sendable {
        self.process(name: name, parallelism: parallelism) {
            WindowAggregate<Key, T, Accumulator>(
                assigner: assigner, timestamp: timestamp, initial: initial, add: add, serializer: serializer)
        }
    }
}
