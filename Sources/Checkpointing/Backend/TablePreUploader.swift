import Foundation
import RocksKit

/// Uploads a RocksDB database's new table files while the job runs (incremental strategy), so the next
/// checkpoint finds a compaction's output already in `shared/` instead of uploading it then: with uniform keys a
/// compaction into L1 rewrites the whole level, and uploading that at the checkpoint made every few checkpoints
/// as slow as the upload of the whole state.
///
/// Every `interval` it lists the live table files and uploads, one after another and largest first, those below
/// L0 (compaction output) of at least `minimumBytes` that neither the backend (`setKnown`) nor it has uploaded:
/// hard-linked into a staging directory first, so a compaction deleting the file meanwhile cannot cut the upload
/// short. A snapshot's upload `claim`s a file (waiting for it when it is being uploaded) instead of uploading it
/// again.
///
/// Deletion goes through the storage's registry like every other file: an upload is pinned from its creation and
/// held live under this uploader's own owner name (`<backend>#pre-upload`) until the table leaves the database.
/// A claim puts the file on the claiming checkpoint's hold under the same lock that guards dropping it, so a file
/// is never released between a snapshot taking it and the snapshot's own hold.
///
/// Defaults (see `init`): every 100 ms, files of 1 MiB and up. On for local roots, off on object storage
/// (`enabled(for:)`).
final class TablePreUploader: @unchecked Sendable {
    private let database: RocksDatabase
    private let storage: CheckpointStorage
    private let owner: String
    private let staging: String
    private let minimumBytes: Int
    private let interval: Duration
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var uploaded: [String: StoredFile] = [:]
    private var inFlight: String?
    private var known: Set<String> = []
    private var stopping = false
    private var finished = false
    /// Bytes uploaded ahead of a checkpoint so far, and those a checkpoint claimed.
    private(set) var uploadedBytes = 0
    private(set) var claimedBytes = 0

    /// Whether backends on `storage` upload ahead: `WEIR_PRE_UPLOAD=1` or `0` decides; by default on for local
    /// roots and off on object storage, where it measured slower on a 2-core machine with the server on the
    /// same cores (report p99 1.7–2.4 s with it, about 1.0–1.1 s without: docs/benchmarks.md).
    static func enabled(for storage: CheckpointStorage) -> Bool {
        switch ProcessInfo.processInfo.environment["WEIR_PRE_UPLOAD"] {
        case "1": true
        case "0": false
        default: !(storage.fileSystem is ObjectStoreFileSystem)
        }
    }

    /// The key the backend's upload map uses for a file: `name:size`.
    static func key(_ name: String, _ size: Int) -> String { "\(name):\(size)" }

    /// Starts the uploader's thread.
    /// - Parameters:
    ///   - owner: The name its live set goes under in the storage's registry (one per backend).
    ///   - staging: A directory of its own for the hard links (emptied now).
    init(database: RocksDatabase, storage: CheckpointStorage, owner: String, staging: String,
         minimumBytes: Int = 1 << 20, interval: Duration = .milliseconds(100)) {
        self.database = database
        self.storage = storage
        self.owner = owner
        self.staging = staging
        self.minimumBytes = minimumBytes
        self.interval = interval
        try? storage.fileSystem.remove(staging)
        try? storage.fileSystem.createDirectory(staging)
        let thread = Thread { [self] in self.loop() }
        thread.name = "weir-pre-upload"
        thread.start()
    }

    /// The files (by `key`) the backend has uploaded itself: never uploaded again here.
    func setKnown(_ keys: Set<String>) {
        self.condition.lock()
        self.known = keys
        self.condition.unlock()
    }

    /// The uploaded file for `key`, waiting while it is being uploaded, put on checkpoint `id`'s hold; nil when
    /// this uploader has none (the snapshot uploads the file itself).
    func claim(_ key: String, for id: Int64) -> StoredFile? {
        self.condition.lock()
        defer { self.condition.unlock() }
        while self.inFlight == key { self.condition.wait() }
        guard let handle = self.uploaded[key] else { return nil }
        self.storage.hold(id, paths: [handle.path])
        self.claimedBytes += handle.size
        return handle
    }

    /// The keys of the files uploaded and not yet dropped.
    var uploadedKeys: Set<String> {
        self.condition.lock()
        defer { self.condition.unlock() }
        return Set(self.uploaded.keys)
    }

    /// Ends the thread after the file being uploaded (if any) and releases every upload nothing claimed.
    func stop() {
        self.condition.lock()
        self.stopping = true
        self.condition.broadcast()
        while !self.finished { self.condition.wait() }
        self.uploaded = [:]
        self.condition.unlock()
        self.storage.setLive(owner: self.owner, paths: [])
        self.storage.collect()
        try? self.storage.fileSystem.remove(self.staging)
    }

    private func loop() {
        defer {
            self.condition.lock()
            self.finished = true
            self.condition.broadcast()
            self.condition.unlock()
        }
        while true {
            self.condition.lock()
            if !self.stopping { _ = self.condition.wait(until: Date(timeIntervalSinceNow: Double(self.interval.components.seconds) + Double(self.interval.components.attoseconds) / 1e18)) }
            if self.stopping {
                self.condition.unlock()
                return
            }
            self.condition.unlock()
            let live = self.database.liveFiles()
            self.dropGone(Set(live.map { Self.key($0.name, $0.size) }))
            // Compaction output only: a flush's L0 file is most often the one the checkpoint's own flush just
            // wrote, which that checkpoint uploads itself.
            for file in live.sorted(by: { $0.size > $1.size }) where file.level > 0 && file.size >= self.minimumBytes {
                guard self.begin(Self.key(file.name, file.size)) else { continue }
                self.upload(file)
            }
        }
    }

    /// Forgets the uploads whose table the database no longer has (a snapshot that claimed one holds it itself).
    private func dropGone(_ live: Set<String>) {
        self.condition.lock()
        let gone = self.uploaded.keys.filter { !live.contains($0) }
        for key in gone { self.uploaded[key] = nil }
        let paths = Set(self.uploaded.values.map(\.path))
        self.condition.unlock()
        guard !gone.isEmpty else { return }
        self.storage.setLive(owner: self.owner, paths: paths)
        self.storage.collect()
    }

    /// Marks `key` in flight unless it is uploaded or known already, or the uploader is stopping.
    private func begin(_ key: String) -> Bool {
        self.condition.lock()
        defer { self.condition.unlock() }
        guard !self.stopping, self.uploaded[key] == nil, !self.known.contains(key) else { return false }
        self.inFlight = key
        return true
    }

    private func upload(_ file: LiveFile) {
        let fileSystem = self.storage.fileSystem
        let link = "\(self.staging)/\(file.name)"
        var handle: StoredFile?
        var written: String?
        do throws(CheckpointError) {
            try? fileSystem.remove(link)
            // Gone already (compacted away since the listing): nothing to upload.
            try fileSystem.link("\(self.database.path)/\(file.name)", to: link)
            let (relative, absolute) = self.storage.newSharedFile(suffix: file.name)
            written = relative
            let (size, crc) = try fileSystem.copy(from: link, to: absolute)
            handle = StoredFile(path: relative, size: size, crc32c: crc, localName: file.name)
        } catch {
            // Not uploaded: the snapshot uploads it itself. A partial upload is garbage the registry collects.
            if let written { self.storage.discard([written]) }
        }
        try? fileSystem.remove(link)
        self.condition.lock()
        if let handle {
            self.uploaded[Self.key(file.name, file.size)] = handle
            self.uploadedBytes += handle.size
        }
        self.inFlight = nil
        let paths = Set(self.uploaded.values.map(\.path))
        self.condition.broadcast()
        self.condition.unlock()
        if let handle { self.storage.setLive(owner: self.owner, paths: paths, settling: [handle.path]) }
    }
}
