import KeyedState
import StateCore

/// Figures of one materialization.
public struct MaterializationStats: Sendable {
    /// The materialization's number.
    public var id: Int64
    /// The SQN it reflects.
    public var sqn: UInt64
    /// Time on the owner thread (RocksDB checkpoint: flush + hard links; heap: nothing).
    public var synchronous: Duration
    /// Time from start to the last file uploaded.
    public var total: Duration
    /// Bytes uploaded (new files only).
    public var uploadedBytes: Int
    /// Bytes of files reused from earlier uploads.
    public var reusedBytes: Int
    /// Bytes of the whole image.
    public var totalBytes: Int
}

/// A finished upload of a materialized image.
struct MaterializationResult: Sendable {
    var handle: MaterializationHandle
    var newUploads: [String: StoredFile]
    /// Files written (and pinned) for this materialization.
    var written: [String] = []
    var stats: MaterializationStats
}

/// Materialization (changelog strategy). Every `materializationInterval` (polled between records), the owner
/// thread takes a RocksDB checkpoint into `<working directory>/local/mat-<id>` (flush + hard links: the state at
/// exactly SQN `m`); the materializer thread copies to `shared/` only the files whose `name:size` was not
/// uploaded before, and MANIFEST, OPTIONS, CURRENT. When the upload is done the owner adopts it: later checkpoints
/// reference it, changelog sections below `m` are dropped, and the local copy stays for local recovery. The copy
/// the latest completed checkpoint references stays too, until a checkpoint on the new one completes
/// (`pruneLocalCopies`): a failure in between still restores from local files instead of fetching the whole
/// image (a restored checkpoint counts as the latest completed one). On the heap the image is a copy-on-write copy
/// of the dictionaries (`HeapStateImage`), written out as a state snapshot file on the materializer thread.
extension CheckpointedBackend {
    /// Adopts a finished materialization and starts the next one when the interval has passed (owner thread,
    /// between records: never from inside a state access). Called before every standalone `checkpoint`, and by
    /// the runtime's keyed operators every `Limits.materializationPollRecords` records and after every completed
    /// checkpoint. A program driving a backend itself may call it between its records for finer timing.
    public func pollMaterialization() {
        guard self.strategy.kind == .changelog, !self.strategy.materializationInterval.isZeroOrLess else { return }
        if self.materializing != nil {
            self.adoptFinishedMaterialization()
            if self.materializing != nil { return }
        }
        // A materialization snapshots the database, so it waits while checkpoints leave deferred keys alone.
        if ContinuousClock.now >= self.materializationDue,
            !self.postponesSettling
        {
            do { try self.startMaterialization() } catch { self.lastMaterializationError = error }
        }
    }

    /// Adopts the running materialization if it has finished (or records its failure).
    func adoptFinishedMaterialization() {
        guard let running = self.materializing, let result = running.current else { return }
        self.materializing = nil
        switch result {
        case .success(let result):
            self.adopt(result)
            self.lastMaterializationError = nil
        case .failure(let error):
            CheckpointingLog.logger.debug("'\(self.backendID)': materialization failed: \(error.message)")
            self.lastMaterializationError = error
        }
    }

    /// Materializes now and waits for the upload (tests, benchmarks, and after a restore from another strategy).
    /// - Throws: the materialization's failure.
    public func materializeNow() throws(CheckpointError) {
        try self.checkOpen()
        if let running = self.materializing { _ = running.wait() }
        self.adoptFinishedMaterialization()
        try self.startMaterialization()
        if let running = self.materializing, case .failure(let error) = running.wait() {
            self.materializing = nil
            self.lastMaterializationError = error
            throw error
        }
        self.adoptFinishedMaterialization()
    }

    /// Blocks until the materializer thread has run every job queued so far: a running materialization's upload,
    /// and removals of local copies no checkpoint needs any more (unlinking a large image's files frees gigabytes,
    /// and the file system's journal then has that work to do). For measurements that must start from a quiet
    /// disk; processing never needs it.
    public func waitForMaterializer() {
        self.materializer.drain()
    }

    /// Takes the synchronous part of a materialization on the owner thread and hands the upload to the
    /// materializer thread.
    func startMaterialization() throws(CheckpointError) {
        guard self.materializing == nil, let writer = self.writer else { return }
        let id = self.nextMaterializationID
        self.nextMaterializationID += 1
        self.materializationDue = .now + self.strategy.materializationInterval
        let started = ContinuousClock.now
        let sqn = writer.nextSQN
        CheckpointingLog.logger.trace("'\(self.backendID)': materialization \(id) starts at SQN \(sqn)")
        let storage = self.storage
        let promise = Promise<Result<MaterializationResult, CheckpointError>>()
        if let database = self.state.rocksDatabase {
            try self.settleRollback()
            let local = self.localMaterializationDirectory(id)
            try self.fileSystem.remove(local)
            try self.fileSystem.createDirectory(self.workingDirectory + "/local")
            do { try database.createCheckpoint(at: local) } catch {
                throw CheckpointError(
                    code: error.code == .noSpace ? .noSpace : .io,
                    message: "materialization \(id) of '\(self.backendID)': \(error.description)", path: local)
            }
            let synchronous = ContinuousClock.now - started
            let known = self.uploaded
            self.materializer.submit {
                do throws(CheckpointError) {
                    var result = try Self.upload(
                        directory: local, storage: storage, known: known, id: id, sqn: sqn, started: started)
                    result.stats.synchronous = synchronous
                    promise.fulfill(.success(result))
                } catch {
                    promise.fulfill(.failure(error))
                }
            }
        } else if let image = self.state.heapImage() {
            let header = self.snapshotHeader(sqn: sqn)
            let synchronous = ContinuousClock.now - started
            let token = self.fileToken
            self.materializer.submit {
                let (relative, absolute) = storage.newSharedFile(suffix: "\(token).wsnap")
                do throws(CheckpointError) {
                    var writer = try StateSnapshotFile.Writer(
                        fileSystem: storage.fileSystem, path: absolute, header: header)
                    for column in header.states.indices {
                        try image.forEach(column: column) { key, primaryLength, value throws(CheckpointError) in
                            try ByteReader.withReader(over: key) { key throws(CheckpointError) in
                                try ByteReader.withReader(over: value) { value throws(CheckpointError) in
                                    try writer.add(column: column, key: key, primaryLength: primaryLength, value: value)
                                }
                            }
                        }
                    }
                    let (size, crc, _) = try writer.finish()
                    let file = StoredFile(path: relative, size: size, crc32c: crc)
                    let handle = MaterializationHandle(id: id, sqn: sqn, format: .stateSnapshot, files: [file])
                    let stats = MaterializationStats(
                        id: id, sqn: sqn, synchronous: synchronous, total: ContinuousClock.now - started,
                        uploadedBytes: size, reusedBytes: 0, totalBytes: size)
                    promise.fulfill(.success(MaterializationResult(
                        handle: handle, newUploads: [:], written: [relative], stats: stats)))
                } catch {
                    storage.discard([relative])
                    promise.fulfill(.failure(error))
                }
            }
        } else {
            promise.fulfill(.failure(CheckpointError(code: .invalidArgument, message: "no engine to materialize")))
        }
        self.materializing = promise
    }

    /// Uploads a RocksDB checkpoint directory: SST and blob files already uploaded (same name and size) are
    /// referenced, everything else is copied to `shared/`.
    static func upload(
        directory: String, storage: CheckpointStorage, known: [String: StoredFile], id: Int64, sqn: UInt64,
        started: ContinuousClock.Instant, preUploaded: TablePreUploader? = nil
    ) throws(CheckpointError) -> MaterializationResult {
        let fileSystem = storage.fileSystem
        var files: [StoredFile] = []
        var newUploads: [String: StoredFile] = [:]
        var uploadedBytes = 0
        var reusedBytes = 0
        var written: [String] = []
        do throws(CheckpointError) {
            for name in try fileSystem.list(directory) {
                let source = "\(directory)/\(name)"
                guard let size = fileSystem.size(source) else { continue }
                let immutable = name.hasSuffix(".sst") || name.hasSuffix(".blob")
                let key = "\(name):\(size)"
                if immutable, let existing = known[key] {
                    files.append(existing)
                    reusedBytes += size
                    continue
                }
                if immutable, let early = preUploaded?.claim(key, for: id) {
                    // Uploaded since the last snapshot: new to this one, but not uploaded now.
                    files.append(early)
                    newUploads[key] = early
                    uploadedBytes += early.size
                    continue
                }
                let (relative, absolute) = storage.newSharedFile(suffix: name)
                written.append(relative)
                let (copied, crc) = try fileSystem.copy(from: source, to: absolute)
                let handle = StoredFile(path: relative, size: copied, crc32c: crc, localName: name)
                files.append(handle)
                if immutable { newUploads[key] = handle }
                uploadedBytes += copied
                CrashPoint.hit(.midMaterializationUpload)
            }
            try fileSystem.syncDirectory(storage.root + "/shared")
        } catch {
            // Written files are garbage now: the registry collects them.
            storage.discard(written)
            throw error
        }
        let handle = MaterializationHandle(id: id, sqn: sqn, format: .rocksDB, files: files)
        let stats = MaterializationStats(
            id: id, sqn: sqn, synchronous: .zero, total: ContinuousClock.now - started, uploadedBytes: uploadedBytes,
            reusedBytes: reusedBytes, totalBytes: uploadedBytes + reusedBytes)
        return MaterializationResult(handle: handle, newUploads: newUploads, written: written, stats: stats)
    }

    /// Makes a finished materialization current: later checkpoints reference it and the changelog from its SQN.
    func adopt(_ result: MaterializationResult) {
        CheckpointingLog.logger.debug(
            "'\(self.backendID)': materialization \(result.handle.id) adopted at SQN \(result.handle.sqn)",
            metadata: [
                "backend": "\(self.backendID)", "files": "\(result.handle.files.count)", "bytes": "\(result.handle.bytes)",
            ])
        self.materialization = result.handle
        self.uploaded.merge(result.newUploads) { _, new in new }
        self.lastMaterialization = result.stats
        self.writer?.truncate(below: result.handle.sqn)
        self.publishLiveFiles(settling: result.written)
        self.storage.collect()
        // The newest local copy stays for local recovery, and so does the one the latest completed checkpoint
        // restores from until a checkpoint on the new one completes.
        self.pruneLocalCopies()
    }
}

extension Duration {
    var isZeroOrLess: Bool { self <= .zero }
}
