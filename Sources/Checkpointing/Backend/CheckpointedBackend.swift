import KeyedState
import RocksKit
import StateCore

/// A keyed state backend whose state is checkpointed to a `CheckpointStorage` with a chosen strategy, and
/// restored from a checkpoint or savepoint when it opens.
///
/// With the default `changelog` strategy every change also goes to a durable changelog; `checkpoint(_:)` persists
/// only the changelog tail, and a background materialization (every `materializationInterval`) snapshots the
/// state and uploads only files not uploaded before. Use `state` exactly like any `KeyedStateBackend`, on one
/// thread.
///
/// ```swift
/// let storage = try CheckpointStorage(root: "/data/checkpoints/job-1")
/// let backend = try CheckpointedBackend.open(
///     backendID: "count/0", storage: storage, workingDirectory: "/tmp/weir/count-0",
///     engine: .rocksDB(), keySerializer: .int64, restore: .latest)
/// let count = try backend.state.valueState(ValueStateDescriptor("count", serializer: .int64))
/// try backend.state.setCurrentKey(42)
/// try count.update((try count.value() ?? 0) + 1)
/// _ = try backend.checkpoint(1)
/// ```
public final class CheckpointedBackend<Key> {
    /// Which engine holds the working state.
    public enum Engine: Sendable {
        /// RocksDB in `<workingDirectory>/db`.
        case rocksDB(RocksOptions = RocksOptions())
        /// Memory.
        case heap
    }

    /// The keyed state: register states and read/write them here.
    public let state: KeyedStateBackend<Key>
    /// This backend's identity in checkpoints (`<operator>/<subtask>`).
    public let backendID: String
    /// How checkpoints are taken.
    public let strategy: SnapshotStrategy
    /// Where checkpoints go.
    public let storage: CheckpointStorage
    /// Local working directory (RocksDB files and local copies of materializations).
    public let workingDirectory: String
    /// What the restore at open did (`nil` when the backend started empty).
    public internal(set) var restoreReport: RestoreReport? {
        didSet {
            guard let report = self.restoreReport else { return }
            CheckpointingLog.logger.debug("'\(self.backendID)': \(report)", metadata: ["backend": "\(self.backendID)"])
        }
    }
    /// Figures of the last completed materialization.
    public internal(set) var lastMaterialization: MaterializationStats?
    /// The last materialization failure, if the latest attempt failed (it is retried at the next interval).
    public internal(set) var lastMaterializationError: CheckpointError?

    let engine: Engine
    var writer: ChangelogWriter?
    var materialization: MaterializationHandle?
    /// Files already in the root, by `name:size` in the RocksDB directory: reused instead of uploaded again.
    var uploaded: [String: StoredFile] = [:]
    var materializing: Promise<Result<MaterializationResult, CheckpointError>>?
    var nextMaterializationID: Int64 = 1
    /// When `pollMaterialization()` starts the next materialization: an interval after the last one started, or
    /// sooner after a restore that continues a changelog tail (`startChangelog`).
    var materializationDue = ContinuousClock.now
    lazy var materializer = WorkerThread(name: "weir-materialize")
    /// Local rollback: snapshots at checkpoints and keys changed since (RocksDB with `localRollback` only).
    var rollback: RollbackTracker?
    /// The incremental snapshot whose upload runs on the materializer thread (at most one); the owner thread adopts
    /// the upload it carries once it has finished.
    var uploading: PendingBackendSnapshot?
    /// Uploads compaction output between checkpoints (incremental strategy; `TablePreUploader.enabled(for:)`).
    var preUploader: TablePreUploader?
    /// Checkpoints since this backend's local rollback that left its deferred keys alone, and how many keys were
    /// deferred at the last of them (`postponesSettling`).
    var postponedSettles = (count: 0, keys: Int.max)
    private var closed = false
    /// Snapshots taken but not yet confirmed complete or aborted, by checkpoint id: their files stay live, and the
    /// local copy of their materialization stays, until then.
    private var pendingSnapshots: [Int64: PendingSnapshot] = [:]
    /// The materialization the latest completed checkpoint references: its local copy stays for local recovery
    /// until a newer checkpoint completes.
    var completedMaterialization: Int64?

    init(
        state: KeyedStateBackend<Key>, backendID: String, strategy: SnapshotStrategy, storage: CheckpointStorage,
        workingDirectory: String, engine: Engine
    ) {
        self.state = state
        self.backendID = backendID
        self.strategy = strategy
        self.storage = storage
        self.workingDirectory = workingDirectory
        self.engine = engine
    }

    var fileSystem: any CheckpointFileSystem { self.storage.fileSystem }
    func localMaterializationDirectory(_ id: Int64) -> String { "\(self.workingDirectory)/local/mat-\(id)" }
    /// The backend id as a file-name part.
    var fileToken: String { self.backendID.fileToken }

    /// The SQN the next change gets (changelog strategy; 0 otherwise).
    public var nextSQN: UInt64 { self.writer?.nextSQN ?? 0 }

    /// Takes this backend's part of checkpoint `id` and returns its handle (to publish with the other backends'
    /// handles through `storage.publish`): `startSnapshot(checkpointID:)`, then waits for its asynchronous part.
    /// - Throws: `CheckpointError`; the checkpoint then fails and earlier ones stay intact.
    public func snapshot(checkpointID id: Int64) throws(CheckpointError) -> BackendStateHandle {
        try self.startSnapshot(checkpointID: id).wait()
    }

    /// Takes the synchronous part of this backend's part of checkpoint `id` and returns it pending: the changelog
    /// tail's write (changelog) or the whole snapshot (full) happen here, and the snapshot is finished on return;
    /// for the incremental strategy a RocksDB checkpoint (a flush and hard links) is taken here and its new files
    /// are uploaded on the backend's background thread while the caller goes on. At most one upload runs: the
    /// next snapshot, a completion or abort notice, and `close` wait for it.
    /// - Throws: `CheckpointError` from the synchronous part; the asynchronous part's error comes from the
    ///   pending snapshot. Either way the checkpoint fails and earlier ones stay intact.
    /// The files the handle references stay live (not collected, even when a materialization truncates the
    /// changelog meanwhile) until `notifyCheckpointComplete` or `notifyCheckpointAborted` for `id`.
    public func startSnapshot(checkpointID id: Int64) throws(CheckpointError) -> PendingBackendSnapshot {
        try self.checkOpen()
        self.adoptFinishedUpload(waiting: true)
        do throws(CheckpointError) {
            // Keys a local rollback deferred are written back first: the snapshot (and the rollback point after
            // it) must see the database as the state is. A changelog snapshot does not read the database, so
            // while the records being reprocessed still rewrite those keys it leaves them, and takes no rollback
            // point (the one they read at stays held).
            let postponed = self.postponesSettling
            if postponed {
                self.postponedSettles = (self.postponedSettles.count + 1, self.state.deferredRollbackKeys)
            } else {
                try self.settleRollback()
            }
            let pending: PendingBackendSnapshot
            switch self.strategy.kind {
            case .changelog: pending = self.pending(id, try self.changelogSnapshot())
            case .incremental: pending = try self.incrementalSnapshot(id)
            case .full, .savepoint: pending = self.pending(id, try self.fullSnapshot(id))
            }
            if let rollback = self.rollback, !postponed {
                do { if let point = try self.state.makeRollbackPoint() { rollback.began(id, at: point) } } catch {
                    throw CheckpointError.state(error, "taking the rollback point of '\(self.backendID)'")
                }
            }
            return pending
        } catch {
            throw error.inCheckpoint(id)
        }
    }

    /// Checkpoint `id` was published: files only it and older pending snapshots needed are now held by the
    /// storage's retained checkpoints (or released).
    public func notifyCheckpointComplete(_ id: Int64) {
        guard !self.closed else { return }
        self.adoptFinishedUpload(waiting: true)
        let held = self.state.deferredRollbackPoint
        for point in self.rollback?.completed(id, keeping: held) ?? [] { self.state.releaseRollbackPoint(point) }
        if let materialization = self.pendingSnapshots[id]?.materialization { self.completedMaterialization = materialization }
        let before = self.pendingSnapshots.count
        self.pendingSnapshots = self.pendingSnapshots.filter { $0.key > id }
        if self.pendingSnapshots.count != before {
            self.pruneLocalCopies()
            self.publishLiveFiles()
            self.storage.collect()
        }
    }

    /// Removes the local copies of materializations (`local/mat-<id>`) that local recovery can no longer need:
    /// older than the current one, and referenced neither by the latest completed checkpoint nor by a pending
    /// snapshot. A newer copy (a materialization still running) is never touched. The removal runs on the
    /// materializer thread: unlinking the last links of a large image's files frees gigabytes, which would
    /// otherwise stall the checkpoint or record that triggered it.
    func pruneLocalCopies() {
        guard let current = self.materialization?.id else { return }
        var keep = Set(self.pendingSnapshots.values.compactMap(\.materialization))
        keep.insert(current)
        if let completed = self.completedMaterialization { keep.insert(completed) }
        let local = self.workingDirectory + "/local"
        let fileSystem = self.fileSystem
        let stale = ((try? fileSystem.list(local)) ?? []).filter { name in
            guard name.hasPrefix("mat-"), let id = Int64(name.dropFirst(4)) else { return false }
            return id < current && !keep.contains(id)
        }
        guard !stale.isEmpty else { return }
        let remove = { @Sendable in for name in stale { try? fileSystem.remove("\(local)/\(name)") } }
        if self.closed { remove() } else { self.materializer.submit(remove) }
    }

    /// Checkpoint `id` will not complete: its snapshot's files are released.
    public func notifyCheckpointAborted(_ id: Int64) {
        guard !self.closed else { return }
        self.adoptFinishedUpload(waiting: true)
        if let point = self.rollback?.aborted(id) { self.state.releaseRollbackPoint(point) }
        guard self.pendingSnapshots.removeValue(forKey: id) != nil else { return }
        self.publishLiveFiles()
        self.storage.collect()
    }

    /// Takes the next checkpoint of this backend alone (its id: the storage's `nextCheckpointID`, above every
    /// id the root has seen) and publishes it.
    /// - Returns: The checkpoint's id.
    /// - Throws: `CheckpointError`; the checkpoint's folder is then removed and earlier ones stay intact.
    @discardableResult
    public func checkpoint() throws(CheckpointError) -> Int64 {
        let id = self.storage.nextCheckpointID
        try self.checkpoint(id)
        return id
    }

    /// Takes checkpoint `id` of this backend alone and publishes it (single-backend jobs, tests, benchmarks).
    /// Ids must grow: an id that is already complete under the root is refused (`.duplicate`).
    /// - Throws: `CheckpointError`; the checkpoint's folder is then removed and earlier ones stay intact.
    @discardableResult
    public func checkpoint(_ id: Int64, timestampMilliseconds: Int64? = nil) throws(CheckpointError)
        -> BackendStateHandle
    {
        try self.checkOpen()
        // On time: a backend with a few changes per second materializes too.
        self.pollMaterialization()
        do throws(CheckpointError) {
            let handle = try self.snapshot(checkpointID: id)
            try self.storage.publish(
                CheckpointMetadata(
                    checkpointID: id, timestampMilliseconds: timestampMilliseconds ?? SystemStateClock().nowMilliseconds(),
                    backends: [handle]))
            self.notifyCheckpointComplete(id)
            return handle
        } catch {
            self.notifyCheckpointAborted(id)
            self.storage.abort(id)
            throw error
        }
    }

    func handle(materialization: MaterializationHandle?, changelog: [ChangelogSectionHandle], sqn: UInt64)
        -> BackendStateHandle
    {
        BackendStateHandle(
            backendID: self.backendID, strategy: self.strategy.kind, engine: self.state.engine.rawValue,
            keyGroups: self.state.keyGroupRange, maxParallelism: self.state.maxParallelism,
            keySchema: self.state.keySerializer.schema, states: self.state.stateColumns, sqn: sqn,
            materialization: materialization, changelog: changelog)
    }

    private func changelogSnapshot() throws(CheckpointError) -> BackendStateHandle {
        guard let writer = self.writer else { preconditionFailure("changelog strategy without a writer") }
        // Adopt a finished materialization; a new one starts from the record path, not inside a checkpoint.
        self.adoptFinishedMaterialization()
        let from = self.materialization?.sqn ?? 0
        CheckpointingMetrics.changelogInMemory(backend: self.backendID, bytes: writer.bytesInMemory)
        let sections = try writer.persist(from: from)
        self.publishLiveFiles()
        return self.handle(materialization: self.materialization, changelog: sections, sqn: writer.nextSQN)
    }

    /// A snapshot finished in its synchronous part: its files stay live until it completes or is aborted.
    private func pending(_ id: Int64, _ handle: BackendStateHandle) -> PendingBackendSnapshot {
        self.storage.hold(id, paths: handle.referencedPaths)
        self.pendingSnapshots[id] = PendingSnapshot(
            paths: handle.referencedPaths, materialization: handle.materialization?.id)
        self.publishLiveFiles()
        return PendingBackendSnapshot(checkpointID: id, handle: handle)
    }

    /// Adopts the incremental snapshot whose upload has finished (waiting for it when `waiting`): its files
    /// become the ones the next snapshot reuses, and stay live until its checkpoint completes or is aborted. A
    /// failed upload has already released what it wrote.
    func adoptFinishedUpload(waiting: Bool) {
        guard let pending = self.uploading, let outcome = pending.outcome(waiting: waiting) else { return }
        self.uploading = nil
        guard case .success(let handle) = outcome.result, let upload = outcome.upload else { return }
        self.pendingSnapshots[pending.checkpointID] = PendingSnapshot(
            paths: handle.referencedPaths, materialization: upload.handle.id)
        self.adopt(upload)
    }

    /// The RocksDB checkpoint of snapshot `id` (owner thread), then the upload of its new files on the
    /// materializer thread.
    private func incrementalSnapshot(_ id: Int64) throws(CheckpointError) -> PendingBackendSnapshot {
        guard let database = self.state.rocksDatabase else {
            throw CheckpointError(
                code: .invalidArgument,
                message: "the incremental strategy needs the RocksDB engine; use .changelog or .full with the heap")
        }
        let local = self.localMaterializationDirectory(id)
        try self.fileSystem.remove(local)
        try self.fileSystem.createDirectory(self.workingDirectory + "/local")
        do { try database.createCheckpoint(at: local) } catch {
            throw CheckpointError(code: error.code == .noSpace ? .noSpace : .io, message: error.description, path: local)
        }
        if self.preUploader == nil && TablePreUploader.enabled(for: self.storage) {
            self.preUploader = TablePreUploader(
                database: database, storage: self.storage, owner: self.backendID + "#pre-upload",
                staging: self.workingDirectory + "/pre-upload")
        }
        self.preUploader?.setKnown(Set(self.uploaded.keys))
        let pending = PendingBackendSnapshot(checkpointID: id)
        let template = self.handle(materialization: nil, changelog: [], sqn: 0)
        let (storage, known, started, preUploaded) = (self.storage, self.uploaded, ContinuousClock.now, self.preUploader)
        self.uploading = pending
        self.materializer.submit {
            do throws(CheckpointError) {
                let upload = try Self.upload(
                    directory: local, storage: storage, known: known, id: id, sqn: 0, started: started,
                    preUploaded: preUploaded)
                var handle = template
                handle.materialization = upload.handle
                // Held for the checkpoint before it is acknowledged (its files are still pinned here).
                storage.hold(id, paths: handle.referencedPaths)
                pending.finish(.success(handle), upload: upload)
            } catch {
                pending.finish(.failure(error.inCheckpoint(id)))
            }
        }
        return pending
    }

    private func fullSnapshot(_ id: Int64) throws(CheckpointError) -> BackendStateHandle {
        // Only this checkpoint references it: held for it until the publish, removed by its abort.
        let (relative, absolute) = try self.storage.newCheckpointFile(id, name: "\(self.fileToken).wsnap")
        let file = try self.writeSnapshotFile(to: absolute, relative: relative, sqn: 0)
        let materialization = MaterializationHandle(id: id, sqn: 0, format: .stateSnapshot, files: [file])
        return self.handle(materialization: materialization, changelog: [], sqn: 0)
    }

    /// The header of a state snapshot of this backend at `sqn`.
    func snapshotHeader(sqn: UInt64) -> StateSnapshotFile.Header {
        StateSnapshotFile.Header(
            backendID: self.backendID, engine: self.state.engine.rawValue, keyGroups: self.state.keyGroupRange,
            maxParallelism: self.state.maxParallelism, keySchema: self.state.keySerializer.schema,
            states: self.state.stateColumns, sqn: sqn)
    }

    /// Writes every entry to a state snapshot file (on this thread).
    func writeSnapshotFile(
        to path: String, relative: String, sqn: UInt64, fileSystem: (any CheckpointFileSystem)? = nil
    ) throws(CheckpointError) -> StoredFile {
        try Self.writeSnapshotFile(
            of: self.state, header: self.snapshotHeader(sqn: sqn), to: path, relative: relative,
            fileSystem: fileSystem ?? self.fileSystem)
    }

    /// Writes every entry of `state` to a state snapshot file with `header` (on this thread).
    package static func writeSnapshotFile(
        of state: KeyedStateBackend<Key>, header: StateSnapshotFile.Header, to path: String, relative: String,
        fileSystem: any CheckpointFileSystem
    ) throws(CheckpointError) -> StoredFile {
        var writer = try StateSnapshotFile.Writer(fileSystem: fileSystem, path: path, header: header)
        var failure: CheckpointError?
        for column in header.states.indices {
            do throws(StateError) {
                try state.forEachRawEntry(column: column) { key, value throws(StateError) -> Bool in
                    do throws(CheckpointError) {
                        try writer.add(column: column, key: key, primaryLength: nil, value: value)
                    } catch {
                        failure = error
                        return false
                    }
                    return true
                }
            } catch {
                throw CheckpointError.state(error, "reading state for the snapshot \(path)")
            }
            if let failure { throw failure }
        }
        let (size, crc, _) = try writer.finish()
        return StoredFile(path: relative, size: size, crc32c: crc)
    }

    /// Writes a savepoint of this backend alone to `directory` (a state snapshot file and `_metadata`).
    /// - Returns: The savepoint's metadata.
    /// - Throws: `CheckpointError`; nothing is left under the final `_metadata` name on failure.
    @discardableResult
    public func writeSavepoint(to directory: String, id: Int64, timestampMilliseconds: Int64? = nil)
        throws(CheckpointError) -> CheckpointMetadata
    {
        try self.checkOpen()
        let fileSystem = try self.storage.fileSystem(reaching: directory)
        try fileSystem.createDirectory(directory)
        let relative = "\(self.fileToken).wsnap"
        let file = try self.writeSnapshotFile(
            to: "\(directory)/\(relative)", relative: relative, sqn: self.nextSQN, fileSystem: fileSystem)
        var handle = self.handle(
            materialization: MaterializationHandle(id: id, sqn: self.nextSQN, format: .stateSnapshot, files: [file]),
            changelog: [], sqn: self.nextSQN)
        handle.strategy = .savepoint
        let metadata = CheckpointMetadata(
            checkpointID: id, kind: .savepoint,
            timestampMilliseconds: timestampMilliseconds ?? SystemStateClock().nowMilliseconds(), backends: [handle])
        try fileSystem.publish(metadata.encoded(), to: directory + "/_metadata")
        return metadata
    }

    /// Tells the storage which files this backend still needs, and collects the rest.
    func publishLiveFiles(settling: [String] = []) {
        var paths = Set(self.materialization?.files.map(\.path) ?? [])
        paths.formUnion(self.writer?.livePaths ?? [])
        for pending in self.pendingSnapshots.values { paths.formUnion(pending.paths) }
        self.storage.setLive(
            owner: self.backendID, paths: paths, settling: settling + (self.writer?.takeUnsettled() ?? []))
    }

    /// Writes back the keys a local rollback deferred (`KeyedStateBackend.settleRollback()`), before anything
    /// reads the database as a whole.
    func settleRollback() throws(CheckpointError) {
        do { try self.state.settleRollback() } catch {
            throw CheckpointError.state(error, "writing back the keys the rollback of '\(self.backendID)' deferred")
        }
    }

    func checkOpen() throws(CheckpointError) {
        if self.closed {
            throw CheckpointError(code: .invalidArgument, message: "backend '\(self.backendID)' was used after close()")
        }
    }

    /// Waits for a running materialization, closes the state, and stops background work (the deletion of a
    /// database an open set aside included: no thread touches the working directory afterwards). Does not
    /// checkpoint.
    public func close() throws(CheckpointError) {
        guard !self.closed else { return }
        self.stopBackgroundWork()
        do { try self.state.close() } catch { throw CheckpointError.state(error, "closing '\(self.backendID)'") }
        RetiredDatabases.shared.waitAll(under: self.workingDirectory + "/")
    }

    /// What a snapshot taken for a checkpoint not yet complete or aborted holds on to.
    private struct PendingSnapshot {
        /// The files it references.
        var paths: Set<String>
        /// The materialization it references (its local copy serves local recovery).
        var materialization: Int64?
    }

    /// Ends this backend after a failed attempt. With local rollback on RocksDB it keeps the database open and
    /// parked in this process, so the next attempt's `open` in the same working directory can roll it back to the
    /// checkpoint it restores instead of rebuilding it. Otherwise it closes like `close()` but drops the
    /// memtables instead of flushing them: the next attempt rebuilds the database from a checkpoint anyway.
    public func park() throws(CheckpointError) {
        guard !self.closed else { return }
        self.stopBackgroundWork()
        guard let rollback = self.rollback, !rollback.epochs.isEmpty else {
            return Self.retire(self.state, fileSystem: self.fileSystem)
        }
        rollback.next = nil
        self.state.attachChangeSink(rollback)
        let state = self.state
        ParkedBackends.shared.park(
            ParkedBackends.Entry(
                backendID: self.backendID, state: state, tracker: rollback,
                close: { [fileSystem = self.fileSystem] in Self.retire(state, fileSystem: fileSystem) }),
            workingDirectory: self.workingDirectory)
    }

    /// Gives up `state` without flushing it: a RocksDB database is closed and deleted on a thread of its own
    /// (`RetiredDatabases`), so a restart does not wait for the flush RocksDB may be running.
    static func retire(_ state: KeyedStateBackend<Key>, fileSystem: any CheckpointFileSystem) {
        guard let path = state.rocksDatabase?.path else { return state.discard() }
        RetiredDatabases.shared.retire(directory: path, fileSystem: fileSystem) { state.discard() }
    }

    /// Waits for a running materialization and stops background work; files written since the last checkpoint
    /// that no retained checkpoint references become garbage.
    private func stopBackgroundWork() {
        self.closed = true
        if let materializing = self.materializing {
            _ = materializing.wait()
        }
        self.materializer.stop()
        self.adoptFinishedMaterialization()
        self.adoptFinishedUpload(waiting: true)
        self.preUploader?.stop()
        self.preUploader = nil
        self.writer?.waitForUploads()
        self.storage.setLive(owner: self.backendID, paths: [], settling: self.writer?.takeUnsettled() ?? [])
        self.storage.collect()
    }
}
