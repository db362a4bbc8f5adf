import Checkpointing
import KeyedState
import StateCore

extension CheckpointInspector {
    /// Writes a savepoint of a completed checkpoint into `directory`: one self-contained state snapshot file per
    /// backend (the materialized state with the changelog replayed, in the canonical format every engine and
    /// parallelism restores from) and a `_metadata` of kind savepoint that keeps the checkpoint's id and every
    /// task's operator state (source positions, sink transactions).
    ///
    /// The savepoint references nothing under the checkpoint root: it outlives the root's retention and cleanup,
    /// moves anywhere, and a job restores it with `RestoreSource.savepoint(directory)` (`weir run
    /// --from-savepoint`), on either engine and at another parallelism. This is how `weir run
    /// --savepoint-on-stop` and `weir savepoint` make one.
    /// - Parameters:
    ///   - metadata: The checkpoint (from `metadata(_:)` of this root).
    ///   - directory: A new or empty directory (local, or `s3://…`).
    ///   - scratchDirectory: A local folder for the restored copies (removed afterwards).
    /// - Returns: The savepoint's metadata.
    /// - Throws: `CheckpointError`: `.invalidArgument` when `directory` already holds a savepoint or checkpoint,
    ///   or the checkpoint holds in-flight channel state (an unaligned checkpoint: a savepoint holds none);
    ///   every restore error of the checkpoint's files; `.io`/`.noSpace` writing the savepoint. A failed export
    ///   leaves no `_metadata`, so nothing restores from a half-written savepoint.
    @discardableResult
    public func exportSavepoint(_ metadata: CheckpointMetadata, to directory: String, scratchDirectory: String)
        throws(CheckpointError) -> CheckpointMetadata
    {
        let target = try CheckpointStorage.fileSystem(nil, for: directory)
        guard !target.exists(directory + "/_metadata") else {
            throw CheckpointError(
                code: .invalidArgument,
                message: "\(directory) already holds a savepoint or checkpoint (_metadata): choose a new directory; "
                    + "nothing was written", path: directory + "/_metadata")
        }
        if let task = metadata.tasks?.first(where: { $0.channelState != nil }) {
            throw CheckpointError(
                code: .invalidArgument,
                message: "checkpoint \(metadata.checkpointID) holds in-flight records of \(task.vertex)/\(task.subtask) "
                    + "(an unaligned checkpoint), and a savepoint holds none: export an aligned checkpoint, such as "
                    + "the one a graceful stop takes", checkpointID: metadata.checkpointID)
        }
        try target.createDirectory(directory)
        var backends: [BackendStateHandle] = []
        for backend in metadata.backends {
            let scratch = "\(scratchDirectory)/savepoint-\(metadata.checkpointID)-\(backend.backendID.fileToken)"
            try self.fileSystem.remove(scratch)
            defer { try? self.fileSystem.remove(scratch) }
            let (restored, _) = try CheckpointedBackend<[UInt8]>.restoreForReading(
                backend, checkpointID: metadata.checkpointID, root: self.root, fileSystem: self.fileSystem,
                workingDirectory: scratch, keySerializer: SchemaOnlySerializer(schema: backend.keySchema))
            defer { try? restored.close() }
            let relative = "\(backend.backendID.fileToken).wsnap"
            let header = StateSnapshotFile.Header(
                backendID: backend.backendID, engine: backend.engine, keyGroups: backend.keyGroups,
                maxParallelism: backend.maxParallelism, keySchema: backend.keySchema, states: backend.states,
                sqn: backend.sqn)
            let file = try CheckpointedBackend<[UInt8]>.writeSnapshotFile(
                of: restored, header: header, to: "\(directory)/\(relative)", relative: relative, fileSystem: target)
            var handle = backend
            handle.strategy = .savepoint
            handle.materialization = MaterializationHandle(
                id: metadata.checkpointID, sqn: backend.sqn, format: .stateSnapshot, files: [file])
            handle.changelog = []
            backends.append(handle)
        }
        let savepoint = CheckpointMetadata(
            checkpointID: metadata.checkpointID, kind: .savepoint, timestampMilliseconds: metadata.timestampMilliseconds,
            backends: backends, tasks: metadata.tasks)
        try target.publish(savepoint.encoded(), to: directory + "/_metadata")
        return savepoint
    }
}
