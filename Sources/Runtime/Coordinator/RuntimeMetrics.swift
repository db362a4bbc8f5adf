import Checkpointing
import Logging
import Metrics
import RocksKit

/// The runtime's log (swift-log label `weir.runtime`): checkpoint triggers, completions and aborts, attempts,
/// failures, restarts and stops, at `debug` and `trace` only. Failures are also returned in `JobExecution.Result`.
enum RuntimeLog {
    static let logger = Logger(label: "weir.runtime")
}


/// Checkpoint figures exported through swift-metrics, to whatever backend the program bootstrapped (Prometheus,
/// StatsD, …; nothing when none is). Dimensions: `job`, and `status` for the checkpoint count.
///
/// - `weir_checkpoints` (counter, `status` completed/aborted)
/// - `weir_checkpoint_duration`, `weir_checkpoint_sync_duration`, `weir_checkpoint_async_duration`,
///   `weir_checkpoint_alignment_duration`, `weir_checkpoint_start_delay` (timers, nanoseconds)
/// - `weir_checkpoint_inflight_bytes`, `weir_checkpoint_checkpointed_bytes`, `weir_checkpoint_state_bytes` (gauges)
/// - `weir_rocksdb_memory_bytes` (gauge, `kind` memtables/table_readers/block_cache: the process's open RocksDB
///   databases, `RocksMemoryUsage`) and `weir_heap_in_use_bytes` (gauge, `ProcessHeap.inUseBytes`), read at each
///   completed checkpoint
struct CheckpointMetrics: Sendable {
    private let completed: Counter
    private let aborted: Counter
    private let duration: Metrics.Timer
    private let synchronous: Metrics.Timer
    private let asynchronous: Metrics.Timer
    private let alignment: Metrics.Timer
    private let startDelay: Metrics.Timer
    private let inflight: Gauge
    private let checkpointed: Gauge
    private let state: Gauge
    private let memtables: Gauge
    private let tableReaders: Gauge
    private let blockCache: Gauge
    private let heap: Gauge

    init(job: String) {
        let dimensions = [("job", job)]
        self.completed = Counter(label: "weir_checkpoints", dimensions: dimensions + [("status", "completed")])
        self.aborted = Counter(label: "weir_checkpoints", dimensions: dimensions + [("status", "aborted")])
        self.duration = Metrics.Timer(label: "weir_checkpoint_duration", dimensions: dimensions)
        self.synchronous = Metrics.Timer(label: "weir_checkpoint_sync_duration", dimensions: dimensions)
        self.asynchronous = Metrics.Timer(label: "weir_checkpoint_async_duration", dimensions: dimensions)
        self.alignment = Metrics.Timer(label: "weir_checkpoint_alignment_duration", dimensions: dimensions)
        self.startDelay = Metrics.Timer(label: "weir_checkpoint_start_delay", dimensions: dimensions)
        self.inflight = Gauge(label: "weir_checkpoint_inflight_bytes", dimensions: dimensions)
        self.checkpointed = Gauge(label: "weir_checkpoint_checkpointed_bytes", dimensions: dimensions)
        self.state = Gauge(label: "weir_checkpoint_state_bytes", dimensions: dimensions)
        let memory = "weir_rocksdb_memory_bytes"
        self.memtables = Gauge(label: memory, dimensions: dimensions + [("kind", "memtables")])
        self.tableReaders = Gauge(label: memory, dimensions: dimensions + [("kind", "table_readers")])
        self.blockCache = Gauge(label: memory, dimensions: dimensions + [("kind", "block_cache")])
        self.heap = Gauge(label: "weir_heap_in_use_bytes", dimensions: dimensions)
    }

    func record(_ statistics: CheckpointStatistics) {
        guard statistics.status == .completed else {
            self.aborted.increment()
            return
        }
        self.completed.increment()
        self.duration.recordNanoseconds(statistics.endToEnd.nanoseconds)
        self.synchronous.recordNanoseconds(statistics.maxSynchronous.nanoseconds)
        self.asynchronous.recordNanoseconds(statistics.maxAsynchronous.nanoseconds)
        self.alignment.recordNanoseconds(statistics.maxAlignment.nanoseconds)
        self.startDelay.recordNanoseconds(statistics.maxStartDelay.nanoseconds)
        self.inflight.record(statistics.inflightBytes)
        self.checkpointed.record(statistics.checkpointedBytes)
        self.state.record(statistics.stateBytes)
        let rocks = RocksMemoryUsage.ofOpenDatabases
        self.memtables.record(rocks.memtableBytes)
        self.tableReaders.record(rocks.tableReaderBytes)
        self.blockCache.record(rocks.blockCacheBytes)
        self.heap.record(ProcessHeap.inUseBytes)
    }
}

/// A task's counters: `weir_records_in` and `weir_backpressured_microseconds` (time its producers waited for room
/// in full channels), with dimensions `job`, `vertex`, `subtask`. Updated at every flush, on the task thread.
struct TaskMetrics {
    private let records: Counter
    private let backPressure: Counter
    private var reportedRecords = 0
    private var reportedMicros = 0

    init(job: String, vertex: String, subtask: Int) {
        let dimensions = [("job", job), ("vertex", vertex), ("subtask", String(subtask))]
        self.records = Counter(label: "weir_records_in", dimensions: dimensions)
        self.backPressure = Counter(label: "weir_backpressured_microseconds", dimensions: dimensions)
    }

    mutating func update(records: Int, backPressuredMicros: Int) {
        if records > self.reportedRecords {
            self.records.increment(by: records - self.reportedRecords)
            self.reportedRecords = records
        }
        if backPressuredMicros > self.reportedMicros {
            self.backPressure.increment(by: backPressuredMicros - self.reportedMicros)
            self.reportedMicros = backPressuredMicros
        }
    }
}

/// Restore figures: `weir_restore_duration` (timer; `job`, `phase` fetch/open/replay/rollback/total) per keyed
/// backend restored, and `weir_restore_replayed_records` (counter; `job`).
struct RestoreMetrics: Sendable {
    private let job: String

    init(job: String) { self.job = job }

    func record(_ report: RestoreReport) {
        let phases: [(String, Duration)] = [
            ("fetch", report.fetch), ("open", report.open), ("replay", report.replay), ("rollback", report.rollback),
            ("total", report.total),
        ]
        for (phase, duration) in phases {
            Metrics.Timer(label: "weir_restore_duration", dimensions: [("job", self.job), ("phase", phase)])
                .recordNanoseconds(duration.nanoseconds)
        }
        Counter(label: "weir_restore_replayed_records", dimensions: [("job", self.job)]).increment(by: report.replayedRecords)
    }
}
