import KeyedState
import RocksKit

/// A key and how many records of it were seen so far.
package struct KeyCount: Sendable, Hashable, CustomStringConvertible {
    /// The key.
    package var key: Int64
    /// Records seen for the key, this one included.
    package var count: Int64

    /// `key,count`.
    package var description: String { "\(self.key),\(self.count)" }
}

/// The keyed function of the standard workload: per key, a count (value state, `Int64`) and the last payload
/// (value state, bytes; in blob files when KV separation is on); emits the new count.
package struct KeyedCount: KeyedProcessFunction {
    private var count: ValueState<Int64, VoidNamespace>?
    private var last: ValueState<[UInt8], VoidNamespace>?
    private let valueSeparation: ValueSeparation?
    private let failAt: (@Sendable (Int, Int64) -> Bool)?
    private var seen: Int64 = 0

    /// Creates the function; `valueSeparation` puts the payload state's large values into blob files.
    /// `failAt(attempt, recordNumber)`, when it returns true, throws (failure injection for tests and benchmarks).
    package init(valueSeparation: ValueSeparation? = nil, failAt: (@Sendable (Int, Int64) -> Bool)? = nil) {
        self.valueSeparation = valueSeparation
        self.failAt = failAt
    }

    /// Registers `count` and `last-payload`.
    package mutating func open(_ context: KeyedContext<Int64>) throws {
        self.count = try context.state.valueState(ValueStateDescriptor("count", serializer: .int64))
        self.last = try context.state.valueState(
            ValueStateDescriptor("last-payload", serializer: .bytes, options: StateOptions(valueSeparation: self.valueSeparation)))
    }

    /// Counts the record and keeps its payload.
    package mutating func process(_ value: GeneratedRecord, context: KeyedContext<Int64>, out: Collector<KeyCount>) throws {
        self.seen += 1
        if let failAt = self.failAt, failAt(context.attempt, self.seen) {
            throw InjectedFailure(message: "injected failure in attempt \(context.attempt) at record \(self.seen) of subtask \(context.subtask)")
        }
        let next = (try self.count!.value() ?? 0) + 1
        try self.count!.update(next)
        try self.last!.update(value.payload)
        try out.collect(KeyCount(key: value.key, count: next))
    }
}

/// The sink of the keyed-count job.
package enum KeyedCountSink: Sendable {
    /// Count and discard, optionally sleeping `throttle` every 100 records (backpressure).
    case counting(throttle: Duration?)
    /// Exactly-once `key,count` lines into a directory (transactional file sink), optionally sleeping
    /// `throttle` every 100 records.
    case files(directory: String, throttle: Duration? = nil)
}

extension StreamJob {
    /// The standard workload: the generator into `KeyedCount` (vertex "count"), into `sink` chained behind it.
    package static func keyedCount(
        generator: GeneratorSource.Configuration, parallelism: Int = 2, sourceParallelism: Int? = nil,
        valueSeparation: ValueSeparation? = nil, sink: KeyedCountSink = .counting(throttle: nil),
        failAt: (@Sendable (Int, Int64) -> Bool)? = nil, name: String = "keyed-count"
    ) -> StreamJob {
        let job = StreamJob(name: name, defaultParallelism: parallelism)
        let counts = job.generator(generator, parallelism: sourceParallelism ?? parallelism)
            .keyBy { $0.key }
            .process(name: "count") { KeyedCount(valueSeparation: valueSeparation, failAt: failAt) }
        switch sink {
        case .counting(let throttle):
            counts.sink(name: "sink") { _ in CountingSink<KeyCount>(throttle: throttle) }
        case .files(let directory, let throttle):
            counts.sink(name: "sink") { context in
                try TransactionalFileSink<KeyCount>(directory: directory, context: context, throttle: throttle) { $0.description }
            }
        }
        return job
    }
}
