import Foundation
import Metrics
import MetricsTestKit
import Runtime
import StateTestSupport
import Synchronization
import Testing

/// Records later than the watermark: within `allowedLateness` they update their window and emit its new result;
/// later ones are counted in `weir_window_late_records_dropped` and, when asked for, emitted as `.late`. The
/// records are a `Codable` type made `StreamSerializable` with one line and keyed through a channel.
@Suite(.serialized) struct LateDataTests {
    /// A reading with an event time; crosses the `keyBy` channel as JSON.
    struct Reading: Codable, Sendable, Equatable {
        var sensor: String
        var time: Int64
    }

    /// Emits fixed readings in order, one per call (so each is followed by its watermark).
    final class ReadingSource: SourceFunction {
        let readings: [Reading]
        var next = 0
        init(_ readings: [Reading]) { self.readings = readings }
        func emit(limit: Int, into out: (Reading) throws -> Void) throws -> SourceStatus {
            guard self.next < self.readings.count else { return .finished }
            try out(self.readings[self.next])
            self.next += 1
            return .more
        }
        func snapshotState() -> [String: String] { ["next": String(self.next)] }
        func restore(_ state: [String: String]) throws { self.next = state["next"].flatMap { Int($0) } ?? 0 }
    }

    /// Lines written by a sink, shared with the test.
    final class Lines: Sendable {
        private let lines = Mutex<[String]>([])
        func append(_ line: String) { self.lines.withLock { $0.append(line) } }
        var all: [String] { self.lines.withLock { $0 } }
    }

    /// Collects what the window operator emits, in order.
    final class EventSink: SinkFunction {
        let events: Lines
        init(_ events: Lines) { self.events = events }
        func write(_ value: WindowEvent<String, Reading, Int64>) throws {
            let line: String
            switch value {
            case .result(let result): line = "\(result.key) [\(result.start),\(result.end))=\(result.value)"
            case .late(let reading): line = "late \(reading.sensor)@\(reading.time)"
            }
            self.events.append(line)
        }
    }

    /// Out of order: 3, 12 and 5 arrive after the watermark passed their window's end.
    static let times: [Int64] = [1, 2, 15, 3, 25, 12, 40, 5]

    /// Runs the readings through a tumbling 10-unit count window (parallelism 1, a watermark after every record).
    static func run(job name: String, allowedLateness: Int64) throws -> [String] {
        let scratch = TemporaryDirectory(prefix: "weir-late")
        defer { scratch.remove() }
        let events = Lines()
        let readings = Self.times.map { Reading(sensor: "s1", time: $0) }
        let job = StreamJob(name: name, defaultParallelism: 1)
        job.source(name: "readings") { _ in ReadingSource(readings) }
            .assignWatermarks(interval: 1) { $0.time }
            .keyBy { $0.sensor }
            .windowAggregateWithLateRecords(
                name: "count", .tumbling(size: 10), allowedLateness: allowedLateness, timestamp: { $0.time },
                initial: Int64(0), serializer: .int64
            ) { count, _ in count + 1 }
            .sink(name: "events") { _ in EventSink(events) }
        _ = try JobExecution(job: job, configuration: JobConfiguration(workingDirectory: scratch.appending("work"))).run()
        return events.all
    }

    static func dropped(job: String) throws -> Int64 {
        try MetricsTests.metrics.expectCounter(
            "weir_window_late_records_dropped", [("job", job), ("vertex", "count"), ("subtask", "0")]
        ).totalValue
    }

    /// Without lateness 3, 12 and 5 are late. With 10, 3 and 12 arrive within 10 of their window's end: each
    /// emits the window's updated count at once; by 5 the watermark (39) passed [0,10)'s end + 10, so its state
    /// is gone and 5 is late.
    static let lateness: [(allowedLateness: Int64, events: [String], dropped: Int64)] = [
        (0, ["s1 [0,10)=2", "late s1@3", "s1 [10,20)=1", "late s1@12", "s1 [20,30)=1", "late s1@5", "s1 [40,50)=1"], 3),
        (10, ["s1 [0,10)=2", "s1 [0,10)=3", "s1 [10,20)=1", "s1 [10,20)=2", "s1 [20,30)=1", "late s1@5", "s1 [40,50)=1"], 1),
    ]

    @Test(arguments: 0..<2)
    func lateRecordsUpdateTheirWindowWithinTheLatenessAndAreEmittedAndCountedAfter(index: Int) throws {
        _ = MetricsTests.metrics    // bootstrapped before the operator creates its counter
        let (allowedLateness, expected, dropped) = Self.lateness[index]
        let job = "late-\(allowedLateness)"
        #expect(try Self.run(job: job, allowedLateness: allowedLateness) == expected)
        #expect(try Self.dropped(job: job) == dropped)
    }

    @Test func windowAggregateDropsLateRecordsButCountsThem() throws {
        _ = MetricsTests.metrics
        let scratch = TemporaryDirectory(prefix: "weir-late")
        defer { scratch.remove() }
        let results = Lines()
        final class ResultSink: SinkFunction {
            let results: Lines
            init(_ results: Lines) { self.results = results }
            func write(_ value: WindowResult<String, Int64>) throws { self.results.append(value.description) }
        }
        let job = StreamJob(name: "late-plain", defaultParallelism: 1)
        job.source(name: "readings") { _ in ReadingSource(Self.times.map { Reading(sensor: "s1", time: $0) }) }
            .assignWatermarks(interval: 1) { $0.time }
            .keyBy { $0.sensor }
            .windowAggregate(name: "count", .tumbling(size: 10), timestamp: { $0.time }, initial: Int64(0), serializer: .int64) {
                count, _ in count + 1
            }
            .sink(name: "results") { _ in ResultSink(results) }
        _ = try JobExecution(job: job, configuration: JobConfiguration(workingDirectory: scratch.appending("work"))).run()
        #expect(results.all == ["s1,0,10,2", "s1,10,20,1", "s1,20,30,1", "s1,40,50,1"])
        #expect(try Self.dropped(job: "late-plain") == 3)
    }
}

extension LateDataTests.Reading: StreamSerializable {}
