import Checkpointing
import Metrics
import MetricsTestKit
import Runtime
import StateTestSupport
import Testing

/// Checkpoint statistics are readable from the API and exported through swift-metrics, and backpressure shows as
/// a per-task counter.
@Suite(.serialized) struct MetricsTests {
    static let metrics: TestMetrics = {
        let metrics = TestMetrics()
        MetricsSystem.bootstrap(metrics)
        return metrics
    }()

    @Test func checkpointFiguresAndBackpressureAreExported() throws {
        let metrics = Self.metrics
        let scratch = TemporaryDirectory(prefix: "weir-metrics")
        defer { scratch.remove() }
        let job = StreamJob.keyedCount(
            generator: GeneratorSource.Configuration(keys: 1_000, payloadBytes: 32, count: 60_000),
            sink: .counting(throttle: .microseconds(300)), name: "metrics-test")
        let execution = JobExecution(job: job, configuration: JobConfiguration(
            checkpointing: CheckpointConfiguration(directory: scratch.appending("checkpoints"), interval: .milliseconds(100), alignment: .unaligned),
            workingDirectory: scratch.appending("work"), channelCapacity: 2))
        let result = try execution.run()
        let completed = result.checkpoints.filter { $0.status == .completed }
        #expect(completed.count >= 2)
        #expect(execution.statistics.count == result.checkpoints.count)
        #expect(completed.allSatisfy { $0.stateBytes > 0 && $0.endToEnd > .zero })

        let dimensions = [("job", "metrics-test")]
        #expect(try metrics.expectCounter("weir_checkpoints", dimensions + [("status", "completed")]).totalValue == Int64(completed.count))
        let durations = try metrics.expectTimer("weir_checkpoint_duration", dimensions).values
        #expect(durations.count == completed.count)
        #expect(durations.last == completed.last!.endToEnd.components.seconds * 1_000_000_000 + completed.last!.endToEnd.components.attoseconds / 1_000_000_000)
        #expect(try metrics.expectGauge("weir_checkpoint_state_bytes", dimensions).lastValue == Double(completed.last!.stateBytes))
        // The job's two RocksDB backends were open at every checkpoint: their block caches and memtables show.
        for kind in ["memtables", "block_cache"] {
            let memory = try metrics.expectGauge("weir_rocksdb_memory_bytes", dimensions + [("kind", kind)])
            #expect(memory.values.count == completed.count && memory.lastValue! > 0, "\(kind): \(memory.values)")
        }
        #expect(try metrics.expectGauge("weir_heap_in_use_bytes", dimensions).lastValue! > 1_000_000)
        let backPressure = try metrics.expectCounter("weir_backpressured_microseconds", dimensions + [("vertex", "generator"), ("subtask", "0")])
        #expect(backPressure.totalValue > 0, "the throttled sink must backpressure the generator")
        let records = try metrics.expectCounter("weir_records_in", dimensions + [("vertex", "count"), ("subtask", "0")]).totalValue
            + (try metrics.expectCounter("weir_records_in", dimensions + [("vertex", "count"), ("subtask", "1")]).totalValue)
        #expect(records == 60_000)
    }
}
