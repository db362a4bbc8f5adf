/// How a checkpointed backend snapshots its state.
///
/// - `changelog` (the default): every change also goes to a durable changelog; a checkpoint persists only the
///   changelog tail, and a periodic background materialization snapshots the state and uploads only new files.
///   Checkpoint cost does not grow with the state.
/// - `incremental`: every checkpoint is a RocksDB checkpoint whose new SST and blob files are uploaded; old ones
///   are referenced (RocksDB only).
/// - `full`: every checkpoint writes all state to one state snapshot file.
///
/// `incremental`'s synchronous part is a memtable flush and hard links; its new files are uploaded like a
/// materialization's, on the backend's background thread while the task goes on (`PendingBackendSnapshot`), and
/// between checkpoints `TablePreUploader` uploads compaction output ahead of time. `full` writes its state snapshot
/// into the checkpoint's folder; savepoints write one into a directory of their own. State snapshots
/// (`StateSnapshotFile`) are engine-independent (raw stored key/value bytes + state metadata), so they restore
/// into either engine and any key-group range.
public struct SnapshotStrategy: Sendable, Hashable {
    /// The strategy's name, recorded in each handle.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// Changelog + periodic materialization.
        case changelog
        /// RocksDB native incremental checkpoints.
        case incremental
        /// Full snapshots.
        case full
        /// A savepoint (canonical format, self-contained).
        case savepoint
    }

    /// The strategy.
    public var kind: Kind
    /// How often materialization starts (changelog only). Default 30 s, as in Flink.
    public var materializationInterval: Duration
    /// The changelog buffer size at which it is persisted before the next checkpoint (changelog only). Default
    /// 1 MiB: a checkpoint then writes at most about that much.
    public var persistThreshold: Int

    /// Changelog + periodic materialization.
    public static func changelog(
        materializationInterval: Duration = .seconds(30), persistThreshold: Int = 1 << 20
    ) -> SnapshotStrategy {
        SnapshotStrategy(kind: .changelog, materializationInterval: materializationInterval, persistThreshold: persistThreshold)
    }

    /// RocksDB native incremental checkpoints.
    public static let incremental = SnapshotStrategy(
        kind: .incremental, materializationInterval: .zero, persistThreshold: 0)

    /// A full snapshot at every checkpoint.
    public static let full = SnapshotStrategy(kind: .full, materializationInterval: .zero, persistThreshold: 0)

    /// The strategy of `kind` (a savepoint kind means full snapshots); `materializationInterval` applies to the
    /// changelog (command-line flags name strategies this way).
    public static func named(_ kind: Kind, materializationInterval: Duration = .seconds(30)) -> SnapshotStrategy {
        switch kind {
        case .changelog: .changelog(materializationInterval: materializationInterval)
        case .incremental: .incremental
        case .full, .savepoint: .full
        }
    }
}
