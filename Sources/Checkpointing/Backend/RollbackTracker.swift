import KeyedState
import RocksKit

/// Local rollback's memory: for each checkpoint snapshotted since the last completed one, a RocksDB snapshot
/// taken at the checkpoint's synchronous point and every key changed after it. With these, a failed attempt in
/// this process puts the live database back to a checkpoint in place — a get and a write per changed key, no
/// fetch, no replay, and the block cache stays warm.
///
/// It sits between the state and the changelog writer (or stands alone for the other strategies) and sees every
/// change. Invariants: epochs are in checkpoint order; a change goes into the newest epoch only; the keys changed
/// since checkpoint `c` are the union of the epochs from `c` on.
///
/// Local rollback as a whole (`open(…, localRollback: true)`; jobs with `localRecovery` turn it on except with the
/// incremental strategy, whose failed database is dropped without flushing its memtables instead,
/// `KeyedStateBackend.discard()`): at each checkpoint's synchronous point a RocksDB backend takes a rollback point
/// and this tracker appends every changed key to a flat per-checkpoint log. A completed checkpoint releases the
/// older snapshots and logs; an aborted one folds its log into the one before. When an attempt fails, each task
/// `park()`s its backend in `ParkedBackends` instead of closing it; the next attempt's `open` of the same working
/// directory, restoring checkpoint `c`, takes it back and rolls it back to `c`'s snapshot in place
/// (`CheckpointedBackend+Rollback.swift`). Map clears put back their whole prefix at once; every other key changed
/// since is deferred (`DeferredRollback`), so the rollback itself takes about a millisecond. Writing the keys back
/// at the first checkpoint after a rollback had made its synchronous phase 80–230 ms: a changelog checkpoint leaves
/// them alone while their number falls, at most three in a row (`postponesSettling`). A second failure before they
/// are written back rolls back to the same snapshot, and its deferred keys carry over. The backend then continues
/// exactly as after a restore of `c`; a parked database that cannot stand for `c` is discarded and `c` restored
/// normally.
final class RollbackTracker: StateChangeSink {
    struct Epoch {
        let checkpointID: Int64
        let point: RocksSnapshot
        /// Every change's target since the snapshot, appended as it comes (no hashing, no allocation per change):
        /// `kind (0 key, 1 prefix) ‖ column u32 ‖ length u32 ‖ key bytes`, little-endian. Deduplicated only when
        /// a rollback reads it.
        var log: [UInt8] = []
    }

    /// The sink after this one (the changelog writer), or `nil`.
    var next: (any StateChangeSink)?
    private(set) var epochs: [Epoch] = []

    func stateChanged(_ kind: StateChangeKind, column: Int, key: [UInt8], primaryLength: Int, value: [UInt8])
        throws(StateError)
    {
        if !self.epochs.isEmpty {
            let last = self.epochs.count - 1
            Self.append(prefix: kind == .deletePrefix, column: column, key: key, to: &self.epochs[last].log)
        }
        try self.next?.stateChanged(kind, column: column, key: key, primaryLength: primaryLength, value: value)
    }

    private static func append(prefix: Bool, column: Int, key: [UInt8], to log: inout [UInt8]) {
        log.append(prefix ? 1 : 0)
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: column).littleEndian) { log.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: key.count).littleEndian) { log.append(contentsOf: $0) }
        log.append(contentsOf: key)
    }

    /// Checkpoint `id` was snapshotted at `point`: later changes belong to its epoch.
    func began(_ id: Int64, at point: RocksSnapshot) {
        self.epochs.append(Epoch(checkpointID: id, point: point))
    }

    /// Checkpoint `id` completed: older epochs can no longer be rolled back to. Returns their snapshots to release.
    /// The epoch whose snapshot is `held` (the point deferred keys still read at) stays, and with it every later
    /// one, so that the keys changed since it remain the union of the epochs from it on.
    func completed(_ id: Int64, keeping held: RocksSnapshot? = nil) -> [RocksSnapshot] {
        var count = self.epochs.prefix { $0.checkpointID < id }.count
        if let held, let index = self.epochs.firstIndex(where: { $0.point === held }) { count = min(count, index) }
        let old = self.epochs.prefix(count).map(\.point)
        self.epochs.removeFirst(count)
        return old
    }

    /// Checkpoint `id` will not complete: its changes move to the epoch before it. Returns its snapshot to release.
    func aborted(_ id: Int64) -> RocksSnapshot? {
        guard let index = self.epochs.firstIndex(where: { $0.checkpointID == id }) else { return nil }
        let epoch = self.epochs.remove(at: index)
        if index > 0 { self.epochs[index - 1].log.append(contentsOf: epoch.log) }
        return epoch.point
    }

    /// The snapshot of checkpoint `id` and every distinct key and prefix changed since, or `nil` when `id` has
    /// no epoch.
    func changes(since id: Int64) -> (point: RocksSnapshot, keys: Set<RawStateKey>, prefixes: Set<RawStateKey>)? {
        guard let index = self.epochs.firstIndex(where: { $0.checkpointID == id }) else { return nil }
        var keys = Set<RawStateKey>()
        var prefixes = Set<RawStateKey>()
        for epoch in self.epochs[index...] {
            epoch.log.withUnsafeBytes { bytes in
                var offset = 0
                while offset + 9 <= bytes.count {
                    let isPrefix = bytes[offset] == 1
                    let column = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 1, as: UInt32.self)))
                    let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 5, as: UInt32.self)))
                    let key = RawStateKey(column: column, key: Array(bytes[(offset + 9)..<(offset + 9 + length)]))
                    if isPrefix { prefixes.insert(key) } else { keys.insert(key) }
                    offset += 9 + length
                }
            }
        }
        return (self.epochs[index].point, keys, prefixes)
    }

    /// The state was just rolled back to checkpoint `id`: its epoch stays, with nothing changed since, so a failure
    /// before the next checkpoint can roll back to it again. Returns the other epochs' snapshots to release.
    func restart(at id: Int64) -> [RocksSnapshot] {
        let others = self.epochs.filter { $0.checkpointID != id }
        self.epochs = self.epochs.filter { $0.checkpointID == id }.map { Epoch(checkpointID: $0.checkpointID, point: $0.point) }
        return others.map(\.point)
    }
}
