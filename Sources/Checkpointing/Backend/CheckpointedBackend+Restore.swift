import KeyedState
import RocksKit
import StateCore

extension CheckpointedBackend {
    /// Opens a checkpointed backend, restoring its state first when `restore` names a checkpoint or savepoint.
    /// - Parameters:
    ///   - backendID: The backend's identity in checkpoints (`<operator>/<subtask>`); restore finds its handle.
    ///   - storage: The checkpoint root.
    ///   - workingDirectory: Local directory for RocksDB and local copies of materializations (local recovery).
    ///   - engine: RocksDB or heap.
    ///   - keySerializer, keyGroupRange, maxParallelism, clock: As for `KeyedStateBackend`.
    ///   - strategy: How checkpoints are taken. Default `.changelog()`.
    ///   - restore: Where the state comes from. Default `.empty`.
    ///   - localRollback: On RocksDB, keep a snapshot at each checkpoint and the keys changed since, so that after
    ///     a failure in this process `park()` keeps the database open and the next `open` in the same working
    ///     directory rolls it back in place to the checkpoint it restores (no fetch, no replay, warm caches).
    ///     Costs a set insert per change and old versions RocksDB keeps for up to two checkpoints. Default `false`.
    /// - Throws: `CheckpointError`: `.missing`/`.corrupt`/`.unsupportedVersion` for damaged checkpoints (naming the
    ///   file, offset, checkpoint and SQN), `.incompatible` when the snapshot does not fit, `.unsafePath`.
    public static func open(
        backendID: String,
        storage: CheckpointStorage,
        workingDirectory: String,
        engine: Engine = .rocksDB(),
        keySerializer: any StateSerializer<Key>,
        keyGroupRange: KeyGroupRange? = nil,
        maxParallelism: Int = Limits.maxParallelismDefault,
        strategy: SnapshotStrategy = .changelog(),
        restore: RestoreSource = .empty,
        localRollback: Bool = false,
        clock: any StateClock = SystemStateClock()
    ) throws(CheckpointError) -> CheckpointedBackend<Key> {
        let fileSystem: any CheckpointFileSystem
        if case .savepoint(let directory) = restore { fileSystem = try storage.fileSystem(reaching: directory) }
        else { fileSystem = storage.fileSystem }
        try fileSystem.createDirectory(workingDirectory)
        let range = keyGroupRange ?? .all(maxParallelism: maxParallelism)
        let found = try Self.findHandle(backendID: backendID, storage: storage, source: restore)
        if let parked = ParkedBackends.shared.take(workingDirectory: workingDirectory) {
            if localRollback, let (metadata, handle, _) = found,
                let backend = try Self.reuse(
                    parked, metadata: metadata, handle: handle, backendID: backendID, range: range, storage: storage,
                    workingDirectory: workingDirectory, engine: engine, strategy: strategy)
            {
                return backend
            }
            parked.close()
        }
        let databaseDirectory = RetiredDatabases.shared.directory(in: workingDirectory, fileSystem: fileSystem)
        // Each path below sets an old database in the directory aside; it is deleted once this open is done.
        defer { RetiredDatabases.shared.deleteSetAside(in: workingDirectory, fileSystem: fileSystem) }
        func makeState(reopen: Bool) throws(CheckpointError) -> KeyedStateBackend<Key> {
            do {
                switch engine {
                case .heap:
                    return .heap(keySerializer: keySerializer, keyGroupRange: range, maxParallelism: maxParallelism, clock: clock)
                case .rocksDB(let options):
                    return try .rocksDB(
                        directory: databaseDirectory, keySerializer: keySerializer, keyGroupRange: range,
                        maxParallelism: maxParallelism, options: options, reopen: reopen, clock: clock)
                }
            } catch {
                throw CheckpointError.state(error, "opening the state of '\(backendID)' in \(databaseDirectory)")
            }
        }
        if let (metadata, handle, root) = found, handle.keyGroups != range || handle.backendID != backendID {
            // Rescaled: this backend's key groups come from the old backends of the same operator that overlap them.
            let backend = try Self.openRescaled(
                metadata: metadata, root: root, backendID: backendID, storage: storage, workingDirectory: workingDirectory,
                databaseDirectory: databaseDirectory, engine: engine, keySerializer: keySerializer, range: range,
                maxParallelism: maxParallelism, strategy: strategy, makeState: makeState)
            if localRollback { backend.enableRollback() }
            backend.publishLiveFiles()
            return backend
        }
        guard let (metadata, handle, root) = found else {
            try RetiredDatabases.shared.setAside(databaseDirectory, fileSystem: fileSystem)
            let backend = CheckpointedBackend(
                state: try makeState(reopen: false), backendID: backendID, strategy: strategy, storage: storage,
                workingDirectory: workingDirectory, engine: engine)
            backend.startChangelog(sqn: 0, sections: [])
            if localRollback { backend.enableRollback() }
            return backend
        }
        var report = RestoreReport(checkpointID: metadata.checkpointID, strategy: handle.strategy)
        let state: KeyedStateBackend<Key>
        do throws(CheckpointError) {
            try Self.checkCompatible(handle, keySerializer: keySerializer, range: range, maxParallelism: maxParallelism, engine: engine)
            state = try Self.restoreState(
                handle, root: root, fileSystem: fileSystem, workingDirectory: workingDirectory,
                databaseDirectory: databaseDirectory, report: &report, makeState: makeState)
        } catch {
            throw error.inCheckpoint(metadata.checkpointID)
        }
        report.nextSQN = handle.sqn
        let backend = CheckpointedBackend(
            state: state, backendID: backendID, strategy: strategy, storage: storage,
            workingDirectory: workingDirectory, engine: engine)
        backend.restoreReport = report
        // The restored checkpoint is the latest completed one until a new one completes: its local copy stays.
        if metadata.kind == .checkpoint { backend.completedMaterialization = handle.materialization?.id }
        let continuesChangelog = handle.strategy == .changelog && metadata.kind == .checkpoint
        let reusesImage = continuesChangelog && (handle.materialization?.format == .rocksDB) == (state.engine == .rocksDB)
        if reusesImage || (continuesChangelog && handle.materialization == nil) {
            backend.continueFrom(handle)
        } else {
            backend.startChangelog(sqn: handle.sqn, sections: [])
            if handle.strategy == .incremental && strategy.kind == .incremental && metadata.kind == .checkpoint {
                // The restored database holds the checkpoint's SST and blob files under the same names.
                backend.rememberUploaded(handle.materialization)
            }
            // The restored state is in no changelog: materialize it before the first checkpoint can need it.
            if strategy.kind == .changelog { try backend.materializeNow() }
        }
        if localRollback { backend.enableRollback() }
        backend.publishLiveFiles()
        return backend
    }

    /// Restores one handle into a scratch RocksDB backend in `workingDirectory` for reading (inspection, rescaling;
    /// whatever engine wrote it, so memory stays bounded for any state size): no storage, no
    /// lock, nothing written under `root`. Replays the changelog only below `sqn` when given.
    /// - Throws: `CheckpointError`; `.invalidArgument` when `sqn` is below the materialization.
    package static func restoreForReading(
        _ handle: BackendStateHandle, checkpointID: Int64, root: String, fileSystem: any CheckpointFileSystem,
        workingDirectory: String, keySerializer: any StateSerializer<Key>, upTo sqn: UInt64? = nil
    ) throws(CheckpointError) -> (state: KeyedStateBackend<Key>, report: RestoreReport) {
        if let sqn, sqn < (handle.materialization?.sqn ?? 0) || sqn > handle.sqn {
            throw CheckpointError(
                code: .invalidArgument,
                message: "checkpoint \(checkpointID) holds the state of '\(handle.backendID)' from SQN "
                    + "\(handle.materialization?.sqn ?? 0) (its materialization) to \(handle.sqn); \(sqn) is outside",
                checkpointID: checkpointID, sqn: sqn)
        }
        try fileSystem.createDirectory(workingDirectory)
        var report = RestoreReport(checkpointID: checkpointID, strategy: handle.strategy)
        // Always a scratch RocksDB, whatever engine wrote the state: reading stays within RocksDB's memory budget
        // for any state size.
        let databaseDirectory = workingDirectory + "/db"
        func makeState(reopen: Bool) throws(CheckpointError) -> KeyedStateBackend<Key> {
            do {
                return try .rocksDB(
                    directory: databaseDirectory, keySerializer: keySerializer, keyGroupRange: handle.keyGroups,
                    maxParallelism: handle.maxParallelism, options: RocksOptions(), reopen: reopen)
            } catch {
                throw CheckpointError.state(error, "opening a copy of '\(handle.backendID)' in \(workingDirectory)")
            }
        }
        do throws(CheckpointError) {
            try fileSystem.remove(databaseDirectory)  // a scratch copy: nothing to set aside, no thread left behind
            let state = try Self.restoreState(
                handle, root: root, fileSystem: fileSystem, workingDirectory: workingDirectory,
                databaseDirectory: databaseDirectory, upTo: sqn, report: &report, makeState: makeState)
            return (state, report)
        } catch {
            throw error.inCheckpoint(checkpointID)
        }
    }

    /// Goes on from `handle` as the checkpoint left it: its materialization (and the next one's id), its files as
    /// already uploaded, and its changelog continued from its SQN.
    func continueFrom(_ handle: BackendStateHandle) {
        self.materialization = handle.materialization
        self.nextMaterializationID = (handle.materialization?.id ?? 0) + 1
        self.rememberUploaded(handle.materialization)
        self.startChangelog(sqn: handle.sqn, sections: handle.changelog)
    }

    /// Records `materialization`'s files as already in the root, so later snapshots reference the immutable ones
    /// (same name and size in the database) instead of uploading them again.
    func rememberUploaded(_ materialization: MaterializationHandle?) {
        for file in materialization?.files ?? [] {
            if let name = file.localName { self.uploaded["\(name):\(file.size)"] = file }
        }
    }

    func startChangelog(sqn: UInt64, sections: [ChangelogSectionHandle]) {
        guard self.strategy.kind == .changelog else { return }
        let writer = ChangelogWriter(
            backendID: self.backendID, uploader: self.storage.changelogUploader,
            threshold: self.strategy.persistThreshold, nextSQN: sqn, sections: sections)
        self.writer = writer
        // A restored changelog tail is already due for materialization, whatever the interval: were the clock to
        // start again at every restore, failures more frequent than the interval would starve materialization, and
        // the changelog (root bytes, and every later restore's replay) would grow without bound.
        let interval = self.strategy.materializationInterval
        self.materializationDue = .now + (sections.isEmpty ? interval : min(interval, Limits.materializationAfterRestore))
        if let rollback = self.rollback {
            rollback.next = writer
        } else {
            self.state.attachChangeSink(writer)
        }
    }

    /// Turns local rollback on (RocksDB only): the tracker sees every change before the changelog writer does.
    func enableRollback(_ tracker: RollbackTracker = RollbackTracker()) {
        guard self.state.engine == .rocksDB else { return }
        tracker.next = self.writer
        self.rollback = tracker
        self.state.attachChangeSink(tracker)
    }

    /// The metadata, this backend's handle, and the root its paths are relative to.
    private static func findHandle(backendID: String, storage: CheckpointStorage, source: RestoreSource)
        throws(CheckpointError) -> (CheckpointMetadata, BackendStateHandle, String)?
    {
        let metadata: CheckpointMetadata
        var root = storage.root
        switch source {
        case .empty:
            return nil
        case .latest:
            let latest = storage.latest
            if let damaged = storage.startup.damaged.first(where: { ($0.error.checkpointID ?? 0) > (latest?.checkpointID ?? 0) }) {
                let fallback = latest.map { "the newest older checkpoint that verifies is \($0.checkpointID): restore it with .checkpoint(\($0.checkpointID))" }
                    ?? "no older checkpoint verifies: restore from a savepoint"
                throw CheckpointError(
                    code: damaged.error.code,
                    message: "the latest checkpoint (\(damaged.folder)) is damaged: \(damaged.error.message). \(fallback).",
                    path: damaged.error.path, offset: damaged.error.offset, checkpointID: damaged.error.checkpointID)
            }
            guard let latest else { return nil }
            metadata = latest
        case .checkpoint(let id):
            metadata = try storage.metadata(id)
        case .savepoint(let directory):
            let fileSystem = try storage.fileSystem(reaching: directory)
            root = fileSystem.realPath(directory) ?? directory
            let path = directory + "/_metadata"
            metadata = try CheckpointMetadata.decode(try fileSystem.read(path), path: path)
        }
        guard let handle = metadata.backend(backendID) ?? Self.siblings(of: backendID, in: metadata).first else {
            throw CheckpointError(
                code: .missing,
                message: "checkpoint \(metadata.checkpointID) has no state for backend '\(backendID)'; it holds "
                    + metadata.backends.map { "'\($0.backendID)'" }.joined(separator: ", ")
                    + ". Check the operator id and subtask index.", checkpointID: metadata.checkpointID)
        }
        return (metadata, handle, root)
    }

    private static func checkCompatible(
        _ handle: BackendStateHandle, keySerializer: any StateSerializer<Key>, range: KeyGroupRange,
        maxParallelism: Int, engine: Engine
    ) throws(CheckpointError) {
        var problems: [String] = []
        if handle.keySchema != keySerializer.schema {
            problems.append("key serializer \(handle.keySchema) in the snapshot vs \(keySerializer.schema) now")
        }
        if handle.maxParallelism != maxParallelism {
            problems.append("maxParallelism \(handle.maxParallelism) in the snapshot vs \(maxParallelism) now")
        }
        if handle.materialization?.format == .rocksDB {
            if case .heap = engine {
                problems.append("the snapshot holds RocksDB files and this backend is on the heap (take a savepoint to switch engines)")
            }
            if handle.keyGroups != range {
                problems.append("key groups \(handle.keyGroups) in the snapshot vs \(range) now (take a savepoint to rescale)")
            }
        }
        guard problems.isEmpty else {
            throw CheckpointError(
                code: .incompatible,
                message: "cannot restore '\(handle.backendID)': " + problems.joined(separator: "; ")
                    + ". Nothing was changed.")
        }
    }

    /// Builds a backend's state from its handle: the materialized image, then the changelog replayed on top.
    ///
    /// A long changelog on RocksDB is replayed through sorted table files that RocksDB ingests (`TableReplay`:
    /// each key written once per chunk, no memtable); a short one is collapsed by `ReplayCompactor` and written
    /// in batches.
    private static func restoreState(
        _ handle: BackendStateHandle, root: String, fileSystem: any CheckpointFileSystem, workingDirectory: String,
        databaseDirectory: String, upTo limit: UInt64? = nil, report: inout RestoreReport,
        makeState: (_ reopen: Bool) throws(CheckpointError) -> KeyedStateBackend<Key>
    ) throws(CheckpointError) -> KeyedStateBackend<Key> {
        let state = try Self.restoreImage(
            handle, root: root, fileSystem: fileSystem, workingDirectory: workingDirectory,
            databaseDirectory: databaseDirectory, report: &report, makeState: makeState)
        let changelogBytes = handle.changelog.reduce(0) { $0 + $1.length }
        guard state.engine == .rocksDB && changelogBytes >= Limits.tableReplayBytes else {
            try Self.replay(handle, into: state, root: root, fileSystem: fileSystem, upTo: limit, report: &report)
            return state
        }
        // Table files are moved into the database: they are written next to it, on the same file system.
        let tables = workingDirectory + "/replay"
        try fileSystem.remove(tables)
        try fileSystem.createDirectory(tables)
        defer { try? fileSystem.remove(tables) }
        // Compactions of the ingested level-0 files wait until the replay is done (they would take a core from it).
        do { try state.setAutomaticCompactions(false) } catch {
            throw CheckpointError.state(error, "pausing compactions of '\(handle.backendID)'")
        }
        try Self.replay(
            handle, into: state, root: root, fileSystem: fileSystem, upTo: limit, tables: tables, report: &report)
        do { try state.setAutomaticCompactions(true) } catch {
            throw CheckpointError.state(error, "resuming compactions of '\(handle.backendID)'")
        }
        return state
    }


    /// Fetches and opens the materialized image (or an empty backend when there is none).
    private static func restoreImage(
        _ handle: BackendStateHandle, root: String, fileSystem: any CheckpointFileSystem, workingDirectory: String,
        databaseDirectory: String, report: inout RestoreReport,
        makeState: (Bool) throws(CheckpointError) -> KeyedStateBackend<Key>
    ) throws(CheckpointError) -> KeyedStateBackend<Key> {
        let fetchStart = ContinuousClock.now
        try RetiredDatabases.shared.setAside(databaseDirectory, fileSystem: fileSystem)
        guard let materialization = handle.materialization else {
            let state = try makeState(false)
            try Self.openColumns(handle, state)
            return state
        }
        switch materialization.format {
        case .rocksDB:
            try fileSystem.createDirectory(databaseDirectory)
            let local = "\(workingDirectory)/local/mat-\(materialization.id)"
            // What no local copy has comes from the root: on object storage, downloaded in parallel first.
            let remote = try ResolvedPaths(
                materialization.files.filter { file in
                    guard let name = file.localName else { return false }
                    return fileSystem.size("\(local)/\(name)") != file.size
                }.map(\.path), root: root, fileSystem: fileSystem)
            try fileSystem.prefetch(remote.resolved)
            for file in materialization.files {
                guard let name = file.localName, file.localNameProblem == nil else {
                    throw CheckpointError(
                        code: .corrupt,
                        message: "the materialized file \(file.path) \(file.localNameProblem ?? ""); the metadata is damaged "
                            + "or was edited: restore an older checkpoint", path: file.path)
                }
                let target = "\(databaseDirectory)/\(name)"
                let immutable = name.hasSuffix(".sst") || name.hasSuffix(".blob")
                if fileSystem.size("\(local)/\(name)") == file.size {
                    if immutable { try fileSystem.link("\(local)/\(name)", to: target) }
                    else { _ = try fileSystem.copy(from: "\(local)/\(name)", to: target) }
                    report.localBytes += file.size
                    continue
                }
                let source = try remote.path(file.path)
                let (size, crc) = try fileSystem.copy(from: source, to: target)
                guard size == file.size, crc == file.crc32c else {
                    throw CheckpointError(
                        code: .corrupt,
                        message: "\(source) does not match the checkpoint: \(size) bytes with CRC-32C "
                            + "\(String(crc, radix: 16)), expected \(file.size) bytes with \(String(file.crc32c, radix: 16)); "
                            + "the file is damaged", path: source)
                }
                report.fetchedBytes += size
            }
            report.fetch = ContinuousClock.now - fetchStart
            let openStart = ContinuousClock.now
            let state = try makeState(true)
            try Self.openColumns(handle, state)
            report.open = ContinuousClock.now - openStart
            return state
        case .stateSnapshot:
            guard let file = materialization.files.first else {
                throw CheckpointError(code: .corrupt, message: "a snapshot materialization lists no file")
            }
            let source = try ResolvedPaths([file.path], root: root, fileSystem: fileSystem).path(file.path)
            report.fetch = ContinuousClock.now - fetchStart
            let openStart = ContinuousClock.now
            let state = try makeState(false)
            try Self.openColumns(handle, state)
            let range = state.keyGroupRange
            var batch: [RawStateChange] = []
            batch.reserveCapacity(Self.replayBatch)
            // Streamed block by block (memory stays at one block and one write batch); the file's size and
            // CRC-32C are checked as it is read.
            try StateSnapshotFile.read(fileSystem: fileSystem, path: source, size: file.size, crc32c: file.crc32c) {
                header throws(CheckpointError) in
                guard header.states == handle.states else {
                    throw CheckpointError(
                        code: .corrupt, message: "\(source): its header lists other states than the checkpoint",
                        path: source)
                }
            } entry: { column, key, primaryLength, value throws(CheckpointError) in
                guard range.contains(Self.keyGroup(of: key)) else { return }
                batch.append(RawStateChange(
                    kind: .put, column: column, key: key, primaryLength: primaryLength ?? -1, value: value))
                if batch.count >= Self.replayBatch { try Self.apply(&batch, to: state, path: source) }
            }
            report.fetchedBytes += file.size
            try Self.apply(&batch, to: state, path: source)
            report.open = ContinuousClock.now - openStart
            return state
        }
    }

    private static func openColumns(_ handle: BackendStateHandle, _ state: KeyedStateBackend<Key>) throws(CheckpointError) {
        do { try state.openRestoredColumns(handle.states) } catch {
            throw CheckpointError.state(error, "opening the states of '\(handle.backendID)'")
        }
    }

    /// The sections to replay, in SQN order, each with the SQNs taken from it: from the materialization's SQN up to
    /// `end`, every SQN from exactly one section.
    /// - Throws: `CheckpointError` `.corrupt` when the sections leave a gap or end early.
    private static func replayPlan(_ handle: BackendStateHandle, end: UInt64) throws(CheckpointError)
        -> [(section: ChangelogSectionHandle, sqns: Range<UInt64>)]
    {
        var expected = handle.materialization?.sqn ?? 0
        var plan: [(section: ChangelogSectionHandle, sqns: Range<UInt64>)] = []
        for section in handle.changelog.sorted(by: { $0.firstSQN < $1.firstSQN }) {
            // The cut first: sections at or after `end` are not replayed, so a gap after them does not matter.
            guard section.firstSQN < end else { break }
            guard section.firstSQN <= expected else {
                throw CheckpointError(
                    code: .corrupt,
                    message: "the changelog of '\(handle.backendID)' has a gap: SQN \(expected)..<\(section.firstSQN) "
                        + "is in no section", sqn: expected)
            }
            let last = min(section.endSQN, end)
            guard expected < last else { continue }
            plan.append((section, expected..<last))
            expected = last
        }
        guard expected >= end else {
            throw CheckpointError(
                code: .corrupt,
                message: "the changelog of '\(handle.backendID)' ends at SQN \(expected); the checkpoint covers up to "
                    + "\(handle.sqn)", sqn: expected)
        }
        return plan
    }

    /// Replays the changelog from the materialization's SQN up to the handle's: through table files in `tables`
    /// when given (newest section first, `TableReplay`), else in order through the compactor.
    private static func replay(
        _ handle: BackendStateHandle, into state: KeyedStateBackend<Key>, root: String,
        fileSystem: any CheckpointFileSystem, upTo limit: UInt64? = nil, tables: String? = nil,
        report: inout RestoreReport
    ) throws(CheckpointError) {
        let start = ContinuousClock.now
        let plan = try Self.replayPlan(handle, end: min(handle.sqn, limit ?? handle.sqn))
        // Every segment's envelope (magic, version, header checksum), once per file, before any section of it.
        var envelopes = ChangelogSegment.EnvelopeCheck()
        let segments = try ResolvedPaths(plan.map(\.section.file.path), root: root, fileSystem: fileSystem)
        try fileSystem.prefetch(segments.resolved)
        for (section, _) in plan {
            try envelopes.check(try segments.path(section.file.path), fileSystem: fileSystem)
        }
        if let tables, try Self.replayTables(plan, handle, into: state, segments: segments, fileSystem: fileSystem,
                                              tables: tables, report: &report) {
            report.replay = ContinuousClock.now - start
            return
        }
        var compactor = ReplayCompactor()
        var written = 0
        var lastPath = ""
        var bytes: [UInt8] = []  // one buffer for every section read
        for (section, sqns) in plan {
            let path = try segments.path(section.file.path)
            lastPath = path
            try Self.readSection(section, sqns: sqns, handle, range: state.keyGroupRange, path: path,
                                 fileSystem: fileSystem, bytes: &bytes, report: &report) { span, bytes throws(CheckpointError) in
                compactor.add(RawStateChange(
                    kind: span.kind, column: span.column,
                    key: Array(bytes[span.keyOffset..<span.keyOffset + span.keyCount]),
                    primaryLength: span.primaryLength,
                    value: Array(bytes[span.valueOffset..<span.valueOffset + span.valueCount])))
                if compactor.ordered.count >= Self.replayBatch {
                    var ordered = compactor.takeOrdered()
                    written += ordered.count
                    try Self.apply(&ordered, to: state, path: path)
                }
                if compactor.pendingCount >= Self.replayPendingLimit {
                    // Bounded memory: the stream so far is applied (ordered, then pending) and the rest starts fresh.
                    var ordered = compactor.takeOrdered()
                    written += ordered.count
                    try Self.apply(&ordered, to: state, path: path)
                    written += try Self.applyPending(compactor.takePending(), to: state, path: path)
                }
            }
        }
        var ordered = compactor.takeOrdered()
        written += ordered.count
        try Self.apply(&ordered, to: state, path: lastPath)
        report.writtenRecords = written + (try Self.applyPending(compactor.takePending(), to: state, path: lastPath))
        report.replay = ContinuousClock.now - start
    }

    /// Replays the plan through table files, newest section first, and ingests them.
    /// - Returns: `false`, having changed nothing, when a record cannot be replayed newest first (a map clear
    ///   whose prefix has no successor, so no range deletion; keyed state never makes one): the caller replays in
    ///   order instead.
    private static func replayTables(
        _ plan: [(section: ChangelogSectionHandle, sqns: Range<UInt64>)], _ handle: BackendStateHandle,
        into state: KeyedStateBackend<Key>, segments: ResolvedPaths, fileSystem: any CheckpointFileSystem,
        tables: String, report: inout RestoreReport
    ) throws(CheckpointError) -> Bool {
        var chunk = TableReplay()
        defer { chunk.waitForWriting() }  // on an error, its threads still use the table directory
        TableReplay.running.add(1, ordering: .relaxed)
        defer { TableReplay.running.subtract(1, ordering: .relaxed) }
        chunk.reserve(TableReplay.chunkBytes(budget: Limits.tableReplayChunkBudget))
        let counted = report
        var written = 0
        var bytes: [UInt8] = []  // one buffer for every section read
        for (section, sqns) in plan.reversed() {
            let path = try segments.path(section.file.path)
            chunk.beginSection()
            try Self.readSection(section, sqns: sqns, handle, range: state.keyGroupRange, path: path,
                                 fileSystem: fileSystem, bytes: &bytes, report: &report) { span, bytes in
                chunk.add(span, of: bytes)
            }
            if chunk.needsInOrderReplay {
                chunk.abandon()
                report = counted
                return false
            }
            if chunk.shouldWrite(budget: Limits.tableReplayChunkBudget) {
                written += try chunk.flush(into: state, directory: tables)
            }
        }
        written += try chunk.finish(into: state, directory: tables)
        report.tableFiles = chunk.filesIngested
        report.writtenRecords = written
        return true
    }

    /// Reads a section into `bytes` and hands `body` each record of `sqns` in the backend's key-group range (with
    /// the section's bytes), in SQN order, counting them in `report`.
    private static func readSection(
        _ section: ChangelogSectionHandle, sqns: Range<UInt64>, _ handle: BackendStateHandle,
        range: KeyGroupRange, path: String, fileSystem: any CheckpointFileSystem, bytes: inout [UInt8],
        report: inout RestoreReport, _ body: (ChangelogSegment.RecordSpan, [UInt8]) throws(CheckpointError) -> Void
    ) throws(CheckpointError) {
        try fileSystem.read(path, offset: section.offset, count: section.length, into: &bytes)
        report.replayedBytes += bytes.count
        var records = 0
        try ChangelogSegment.spans(ofSection: bytes, handle: section, backendID: handle.backendID, path: path) {
            span throws(CheckpointError) in
            guard sqns.contains(span.sqn) else { return }
            let keyGroup = Self.keyGroup(of: bytes, at: span.keyOffset, count: span.keyCount)
            guard span.kind == .deletePrefix && span.keyCount < 2 || range.contains(keyGroup) else { return }
            guard span.column < handle.states.count else {
                throw CheckpointError(
                    code: .corrupt, message: "\(path): record SQN \(span.sqn) names column \(span.column) of "
                        + "\(handle.states.count)", path: path, sqn: span.sqn)
            }
            records += 1
            try body(span, bytes)
        }
        report.replayedRecords += records
    }

    /// Records replayed per write batch.
    static var replayBatch: Int { 4_096 }
    /// Distinct keys the replay compactor holds before it writes them out (about 30 MiB at 100 B values).
    static var replayPendingLimit: Int { 131_072 }

    /// Writes the compactor's pending changes in batches; returns how many.
    private static func applyPending(_ pending: [RawStateChange], to state: KeyedStateBackend<Key>, path: String)
        throws(CheckpointError) -> Int
    {
        for chunk in stride(from: 0, to: pending.count, by: Self.replayBatch) {
            var batch = Array(pending[chunk..<min(chunk + Self.replayBatch, pending.count)])
            try Self.apply(&batch, to: state, path: path)
        }
        return pending.count
    }

    private static func apply(_ batch: inout [RawStateChange], to state: KeyedStateBackend<Key>, path: String)
        throws(CheckpointError)
    {
        guard !batch.isEmpty else { return }
        do { try state.applyRaw(batch) } catch {
            throw CheckpointError.state(error, "restoring records from \(path)")
        }
        batch.removeAll(keepingCapacity: true)
    }

    static func keyGroup(of key: [UInt8]) -> Int {
        Self.keyGroup(of: key, at: 0, count: key.count)
    }

    /// The key group a stored key of `count` bytes at `offset` of `bytes` starts with (`-1` for a shorter one).
    static func keyGroup(of bytes: [UInt8], at offset: Int, count: Int) -> Int {
        count < 2 ? -1 : Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
    }
}
