import KeyedState
import RocksKit
import StateCore

extension CheckpointedBackend {
    /// How many checkpoints after a local rollback may leave its deferred keys alone.
    package static var maxPostponedSettles: Int { 3 }

    /// True when a checkpoint or materialization now leaves the keys a local rollback deferred alone instead of
    /// writing them back: the changelog strategy (its snapshot does not read the database), keys are deferred,
    /// fewer than there were at the last checkpoint that left them (the records being reprocessed are rewriting
    /// them), and fewer than `maxPostponedSettles` checkpoints have left them so far. The first checkpoint after
    /// a rollback usually comes while the next attempt is still reprocessing; writing back then would stall it
    /// for every key the records about to come rewrite anyway.
    ///
    /// Such a checkpoint takes no rollback point, and the tracker keeps the point the keys read at until they are
    /// written back: a failure before then rolls back to that older checkpoint when it is the one restored, and
    /// restores a newer one normally.
    var postponesSettling: Bool {
        guard self.strategy.kind == .changelog, self.postponedSettles.count < Self.maxPostponedSettles else {
            return false
        }
        let keys = self.state.deferredRollbackKeys
        return keys > 0 && keys < self.postponedSettles.keys
    }

    /// Reuses the database a failed attempt parked, rolled back in place to checkpoint `metadata` (local
    /// rollback): every key changed since the checkpoint's snapshot gets its value at that snapshot back, at once
    /// for map clears, lazily for keys (they read at the snapshot until written again or settled before the next
    /// snapshot of the database).
    /// - Returns: The backend, continuing from the checkpoint exactly as a restore would (same changelog SQN,
    ///   materialization and uploaded files), or `nil` when the parked database cannot stand for this checkpoint
    ///   (another backend or key-group range, another strategy, other states, or no snapshot of that checkpoint):
    ///   the caller then closes it and restores normally.
    /// - Throws: `CheckpointError` when the rollback's reads or writes fail.
    static func reuse(
        _ parked: ParkedBackends.Entry, metadata: CheckpointMetadata, handle: BackendStateHandle, backendID: String,
        range: KeyGroupRange, storage: CheckpointStorage, workingDirectory: String, engine: Engine,
        strategy: SnapshotStrategy
    ) throws(CheckpointError) -> CheckpointedBackend? {
        guard metadata.kind == .checkpoint, parked.backendID == backendID, handle.backendID == backendID,
            handle.keyGroups == range, handle.strategy == strategy.kind,
            let state = parked.state as? KeyedStateBackend<Key>, state.keyGroupRange == range,
            state.stateColumns.starts(with: handle.states),
            let (point, keys, prefixes) = parked.tracker.changes(since: metadata.checkpointID)
        else { return nil }
        let start = ContinuousClock.now
        let written: (written: Int, deferred: Int)
        do {
            written = try state.rollBack(to: point, keys: keys, prefixes: Array(prefixes))
        } catch {
            parked.close()
            throw CheckpointError.state(error, "rolling '\(backendID)' back to checkpoint \(metadata.checkpointID) in place")
        }
        for old in parked.tracker.restart(at: metadata.checkpointID) { state.releaseRollbackPoint(old) }
        RocksDatabase.configureCurrentThread()
        var report = RestoreReport(checkpointID: metadata.checkpointID, strategy: handle.strategy)
        report.rollback = ContinuousClock.now - start
        report.rolledBack = true
        report.writtenRecords = written.written
        report.deferredKeys = written.deferred
        report.nextSQN = handle.sqn
        let backend = CheckpointedBackend(
            state: state, backendID: backendID, strategy: strategy, storage: storage,
            workingDirectory: workingDirectory, engine: engine)
        backend.restoreReport = report
        backend.completedMaterialization = handle.materialization?.id
        backend.continueFrom(handle)
        backend.enableRollback(parked.tracker)
        backend.publishLiveFiles()
        return backend
    }
}
