/// What a restore did, phase by phase.
public struct RestoreReport: Sendable, CustomStringConvertible {
    /// The checkpoint (or savepoint) restored.
    public var checkpointID: Int64
    /// The strategy that wrote it.
    public var strategy: SnapshotStrategy.Kind
    /// Time to fetch the materialized files (copy from the root, or link the local copy).
    public var fetch: Duration = .zero
    /// Bytes copied from the checkpoint root.
    public var fetchedBytes = 0
    /// Bytes reused from the local copy of the materialization (local recovery).
    public var localBytes = 0
    /// Time to open the backend (and load a snapshot file).
    public var open: Duration = .zero
    /// Time to replay the changelog.
    public var replay: Duration = .zero
    /// Changelog records replayed.
    public var replayedRecords = 0
    /// Writes the replay made after collapsing repeated writes of the same key.
    public var writtenRecords = 0
    /// Changelog bytes read.
    public var replayedBytes = 0
    /// Time to roll a parked database back in place (local rollback; then there is no fetch, open or replay).
    public var rollback: Duration = .zero
    /// The state was rolled back in place: the failed attempt's database was reused (local rollback).
    public var rolledBack = false
    /// Keys the rollback left to read at the checkpoint's snapshot until they are written again (local rollback;
    /// the rest are written back before the next checkpoint).
    public var deferredKeys = 0
    /// Sorted table files the replay wrote and RocksDB ingested (a long changelog on RocksDB; 0 otherwise).
    public var tableFiles = 0
    /// The SQN the backend continues at.
    public var nextSQN: UInt64 = 0

    /// The phases together.
    public var total: Duration { self.fetch + self.open + self.replay + self.rollback }

    /// One line per phase.
    public var description: String {
        if self.rolledBack {
            return "rolled back to checkpoint \(self.checkpointID) (\(self.strategy.rawValue)) in place in "
                + "\(Self.ms(self.rollback)): \(self.writtenRecords) keys rewritten, \(self.deferredKeys) deferred, "
                + "next SQN \(self.nextSQN)"
        }
        return "restored checkpoint \(self.checkpointID) (\(self.strategy.rawValue)) in \(Self.ms(self.total)): "
            + "fetch \(Self.ms(self.fetch)) (\(self.fetchedBytes) B copied, \(self.localBytes) B local), "
            + "open \(Self.ms(self.open)), replay \(Self.ms(self.replay)) (\(self.replayedRecords) records, "
            + "\(self.writtenRecords) writes, \(self.replayedBytes) B\(self.tableFiles > 0 ? ", \(self.tableFiles) table files" : "")), next SQN \(self.nextSQN)"
    }

    static func ms(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let value = Double(seconds) * 1_000 + Double(attoseconds) / 1e15
        return value < 10 ? "\((value * 100).rounded() / 100) ms" : "\(Int(value.rounded())) ms"
    }
}

/// Where a backend's state comes from when it opens.
public enum RestoreSource: Sendable, Hashable {
    /// Start empty.
    case empty
    /// The newest completed checkpoint of the storage, or empty when there is none.
    case latest
    /// A retained completed checkpoint.
    case checkpoint(Int64)
    /// A savepoint directory.
    case savepoint(String)
}
