import KeyedState
import StateCore

/// Rescaling: a keyed backend whose key-group range differs from the checkpoint's restores every old backend of
/// the operator that overlaps it into a scratch copy, copies the entries of its key groups, and materializes at
/// once. The runtime does the rest: channel state of all old subtasks goes through the keyed input, which drops
/// records of key groups the subtask does not own (`StreamTask`); sinks take over the pending transactions of the
/// old subtasks `s' % parallelism == s` (`TransactionalFileSink`). Source parallelism must stay the same (a
/// source's position is per subtask).
extension CheckpointedBackend {
    /// The handles of the same operator as `backendID` (`<operator>/<subtask>`), in subtask order.
    static func siblings(of backendID: String, in metadata: CheckpointMetadata) -> [BackendStateHandle] {
        guard let slash = backendID.lastIndex(of: "/") else { return [] }
        let prefix = backendID[...slash]
        return metadata.backends.filter { $0.backendID.hasPrefix(prefix) && Int($0.backendID.dropFirst(prefix.count)) != nil }
            .sorted { $0.keyGroups.start < $1.keyGroups.start }
    }

    /// Restores a backend whose key-group range differs from the checkpoint's (the job was rescaled): every old
    /// backend of the operator that overlaps `range` is restored into a scratch copy (materialization + changelog),
    /// and its entries of the key groups in `range` are copied in. The result is materialized at once, since no
    /// changelog holds it.
    static func openRescaled(
        metadata: CheckpointMetadata, root: String, backendID: String, storage: CheckpointStorage,
        workingDirectory: String, databaseDirectory: String, engine: Engine, keySerializer: any StateSerializer<Key>,
        range: KeyGroupRange, maxParallelism: Int, strategy: SnapshotStrategy,
        makeState: (Bool) throws(CheckpointError) -> KeyedStateBackend<Key>
    ) throws(CheckpointError) -> CheckpointedBackend<Key> {
        let fileSystem = storage.fileSystem
        let sources = Self.siblings(of: backendID, in: metadata)
            .filter { $0.keyGroups.start < range.end && range.start < $0.keyGroups.end }
        guard let first = sources.first else {
            throw CheckpointError(
                code: .missing,
                message: "checkpoint \(metadata.checkpointID) has no state of the operator of '\(backendID)' for key groups "
                    + "\(range)", checkpointID: metadata.checkpointID)
        }
        var report = RestoreReport(checkpointID: metadata.checkpointID, strategy: first.strategy)
        let started = ContinuousClock.now
        try RetiredDatabases.shared.setAside(databaseDirectory, fileSystem: fileSystem)
        let state = try makeState(false)
        do {
            try state.openRestoredColumns(first.states)
        } catch {
            throw CheckpointError.state(error, "opening the states of '\(backendID)'")
        }
        for (index, handle) in sources.enumerated() {
            var problems: [String] = []
            if handle.states != first.states { problems.append("'\(handle.backendID)' lists other states than '\(first.backendID)'") }
            if handle.keySchema != keySerializer.schema { problems.append("key serializer \(handle.keySchema) vs \(keySerializer.schema) now") }
            if handle.maxParallelism != maxParallelism { problems.append("maxParallelism \(handle.maxParallelism) vs \(maxParallelism) now") }
            guard problems.isEmpty else {
                throw CheckpointError(
                    code: .incompatible,
                    message: "cannot rescale into '\(backendID)': " + problems.joined(separator: "; ") + ". Nothing was changed.",
                    checkpointID: metadata.checkpointID)
            }
            let scratch = "\(workingDirectory)/rescale-\(index)"
            let (old, oldReport) = try Self.restoreForReading(
                handle, checkpointID: metadata.checkpointID, root: root, fileSystem: fileSystem,
                workingDirectory: scratch, keySerializer: keySerializer)
            report.fetchedBytes += oldReport.fetchedBytes
            report.replayedRecords += oldReport.replayedRecords
            report.replayedBytes += oldReport.replayedBytes
            var batch: [RawStateChange] = []
            batch.reserveCapacity(Self.replayBatch)
            var failure: CheckpointError?
            do throws(StateError) {
                for column in handle.states.indices {
                    try old.forEachRawEntry(column: column) { key, value throws(StateError) -> Bool in
                        var keyReader = key
                        var valueReader = value
                        let keyBytes = keyReader.readRemainingBytes()
                        guard range.contains(Self.keyGroup(of: keyBytes)) else { return true }
                        batch.append(RawStateChange(
                            kind: .put, column: column, key: keyBytes, primaryLength: -1, value: valueReader.readRemainingBytes()))
                        if batch.count >= Self.replayBatch {
                            try state.applyRaw(batch)
                            report.writtenRecords += batch.count
                            batch.removeAll(keepingCapacity: true)
                        }
                        return true
                    }
                }
                try state.applyRaw(batch)
                report.writtenRecords += batch.count
            } catch {
                failure = CheckpointError.state(error, "copying key groups \(range) of '\(handle.backendID)' into '\(backendID)'")
            }
            try? old.close()
            try fileSystem.remove(scratch)
            if let failure { throw failure.inCheckpoint(metadata.checkpointID) }
        }
        report.replay = ContinuousClock.now - started
        let backend = CheckpointedBackend(
            state: state, backendID: backendID, strategy: strategy, storage: storage, workingDirectory: workingDirectory,
            engine: engine)
        backend.restoreReport = report
        backend.startChangelog(sqn: 0, sections: [])
        if strategy.kind == .changelog { try backend.materializeNow() }
        return backend
    }
}
