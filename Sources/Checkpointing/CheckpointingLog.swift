import Logging
import Metrics

/// The log of checkpoint storage and checkpointed backends (swift-log label `weir.checkpointing`).
///
/// Only `debug` and `trace`: publishes, aborts, deletions, startup recovery, materializations, restores. Errors
/// are thrown, never logged here; the program decides what to print. Nothing shows unless the program
/// bootstraps swift-log with such a level (`weir run --log-level debug`).
enum CheckpointingLog {
    static let logger = Logger(label: "weir.checkpointing")
}

/// The checkpointed backends' metrics (swift-metrics): `weir_changelog_bytes_in_memory` (gauge; `backend`), the
/// changelog bytes a backend holds in memory at each checkpoint (its open buffer and the sections not yet
/// collected after their upload).
enum CheckpointingMetrics {
    static func changelogInMemory(backend: String, bytes: Int) {
        Gauge(label: "weir_changelog_bytes_in_memory", dimensions: [("backend", backend)]).record(bytes)
    }
}
