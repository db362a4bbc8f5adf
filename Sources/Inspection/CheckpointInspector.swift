import Checkpointing
import KeyedState
import StateCore

/// Reads a checkpoint root (or a savepoint directory) without a job and without changing anything: lists
/// checkpoints, loads their metadata, reads their changelog, and verifies files. No lock is taken, so it may run
/// beside the job that writes the root.
public struct CheckpointInspector: Sendable {
    /// The root directory (paths in metadata are relative to it).
    public let root: String
    /// The file system.
    public let fileSystem: any CheckpointFileSystem

    /// Inspects `root`.
    /// - Throws: `CheckpointError.missing` when `root` is not a directory.
    /// - Parameter fileSystem: Default: the local one, or the object store for an `s3://` root.
    public init(root: String, fileSystem: (any CheckpointFileSystem)? = nil) throws(CheckpointError) {
        let fileSystem = try CheckpointStorage.fileSystem(fileSystem, for: root)
        guard fileSystem.isDirectory(root) else {
            throw CheckpointError(
                code: .missing, message: "\(root) is not a directory: give a checkpoint root or a savepoint directory",
                path: root)
        }
        self.root = fileSystem.realPath(root) ?? root
        self.fileSystem = fileSystem
    }

    /// Opens the inspector for one checkpoint given as a path: a `chk-<id>` folder (its root is the parent) or a
    /// savepoint directory; returns it with the checkpoint's metadata.
    /// - Throws: `CheckpointError` when the path holds no readable `_metadata`.
    public static func checkpoint(at path: String, fileSystem: (any CheckpointFileSystem)? = nil)
        throws(CheckpointError) -> (inspector: CheckpointInspector, metadata: CheckpointMetadata)
    {
        let fileSystem = try CheckpointStorage.fileSystem(fileSystem, for: path)
        let directory = fileSystem.realPath(path) ?? path
        let metadataPath = directory + "/_metadata"
        guard fileSystem.exists(metadataPath) else {
            throw CheckpointError(
                code: .missing,
                message: "\(path) is not a completed checkpoint or savepoint: it has no _metadata "
                    + "(give a chk-<id> folder or a savepoint directory; `weir checkpoints ROOT` lists them)",
                path: metadataPath)
        }
        let metadata = try CheckpointMetadata.decode(try fileSystem.read(metadataPath), path: metadataPath)
        let root: String
        if metadata.kind == .savepoint {
            root = directory
        } else {
            root = directory.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        }
        return (try CheckpointInspector(root: root.isEmpty ? "/" : root, fileSystem: fileSystem), metadata)
    }

    /// One checkpoint folder (or savepoint) as found.
    public struct Entry: Sendable {
        /// The checkpoint id (from the folder name, or the metadata of a savepoint).
        public var id: Int64
        /// The folder, relative to the root (`chk-7`, or `.` for a savepoint root).
        public var folder: String
        /// What was found.
        public var status: Status
        /// The metadata when it decoded.
        public var metadata: CheckpointMetadata?
        /// Bytes of every file the checkpoint references.
        public var totalBytes: Int
        /// Bytes of files the previous completed checkpoint did not reference.
        public var incrementalBytes: Int
        /// Files referenced.
        public var fileCount: Int
    }

    /// A checkpoint folder's state.
    public enum Status: Sendable, Equatable {
        /// `_metadata` is present and valid.
        case completed
        /// No `_metadata` (aborted, crashed before publishing, or in progress).
        case incomplete
        /// `_metadata` does not verify.
        case damaged(String)

        /// A word for tables.
        public var label: String {
            switch self {
            case .completed: "completed"
            case .incomplete: "incomplete"
            case .damaged: "damaged"
            }
        }
    }

    /// Every checkpoint under the root, oldest first (a savepoint directory lists itself).
    /// - Throws: `CheckpointError.io` when the root cannot be listed.
    public func entries() throws(CheckpointError) -> [Entry] {
        var found: [Entry] = []
        if self.fileSystem.exists(self.root + "/_metadata") {
            let path = self.root + "/_metadata"
            do throws(CheckpointError) {
                let metadata = try CheckpointMetadata.decode(try self.fileSystem.read(path), path: path)
                found.append(self.entry(id: metadata.checkpointID, folder: ".", metadata: metadata, previous: nil))
            } catch {
                found.append(Entry(id: 0, folder: ".", status: .damaged(error.message), metadata: nil, totalBytes: 0,
                                   incrementalBytes: 0, fileCount: 0))
            }
        }
        var previous: Set<String>?
        let folders = try self.fileSystem.list(self.root).compactMap { name -> (Int64, String)? in
            guard name.hasPrefix("chk-"), let id = Int64(name.dropFirst(4)) else { return nil }
            return (id, name)
        }.sorted { $0.0 < $1.0 }
        for (id, name) in folders {
            let path = "\(self.root)/\(name)/_metadata"
            guard self.fileSystem.exists(path) else {
                found.append(Entry(id: id, folder: name, status: .incomplete, metadata: nil, totalBytes: 0,
                                   incrementalBytes: 0, fileCount: 0))
                continue
            }
            do throws(CheckpointError) {
                let metadata = try CheckpointMetadata.decode(try self.fileSystem.read(path), path: path)
                let entry = self.entry(id: id, folder: name, metadata: metadata, previous: previous)
                previous = metadata.referencedPaths
                found.append(entry)
            } catch {
                found.append(Entry(id: id, folder: name, status: .damaged(error.message), metadata: nil, totalBytes: 0,
                                   incrementalBytes: 0, fileCount: 0))
            }
        }
        return found
    }

    private func entry(id: Int64, folder: String, metadata: CheckpointMetadata, previous: Set<String>?) -> Entry {
        let sizes = Self.fileSizes(metadata)
        let incremental = sizes.filter { previous?.contains($0.key) != true }.reduce(0) { $0 + $1.value }
        return Entry(
            id: id, folder: folder, status: .completed, metadata: metadata, totalBytes: sizes.values.reduce(0, +),
            incrementalBytes: incremental, fileCount: sizes.count)
    }

    /// Every referenced file with its recorded size.
    static func fileSizes(_ metadata: CheckpointMetadata) -> [String: Int] {
        var sizes: [String: Int] = [:]
        for backend in metadata.backends {
            for file in backend.materialization?.files ?? [] { sizes[file.path] = file.size }
            for section in backend.changelog { sizes[section.file.path] = section.file.size }
        }
        return sizes
    }

    /// The metadata of checkpoint `id` under this root.
    /// - Throws: `CheckpointError` `.missing`, `.corrupt`, `.unsupportedVersion`.
    public func metadata(_ id: Int64) throws(CheckpointError) -> CheckpointMetadata {
        let path = "\(self.root)/chk-\(id)/_metadata"
        guard self.fileSystem.exists(path) else {
            throw CheckpointError(
                code: .missing, message: "checkpoint \(id) has no \(path)", path: path, checkpointID: id)
        }
        return try CheckpointMetadata.decode(try self.fileSystem.read(path), path: path)
    }

    /// The absolute path of a path recorded in metadata, refusing any that leaves the root.
    public func resolve(_ relative: String, checkpoint: Int64?) throws(CheckpointError) -> String {
        try CheckpointStorage.resolve(relative, root: self.root, fileSystem: self.fileSystem, checkpoint: checkpoint)
    }

    /// One change record of a backend's changelog.
    public struct ChangeRecord: Sendable {
        /// The backend.
        public var backendID: String
        /// Its sequence number.
        public var sqn: UInt64
        /// What it did.
        public var kind: StateChangeKind
        /// The state's name.
        public var state: String
        /// The key group (from the key's first two bytes).
        public var keyGroup: Int
        /// The stored key.
        public var key: [UInt8]
        /// Where the map key starts in `key`.
        public var primaryLength: Int
        /// The stored value or operand.
        public var value: [UInt8]
        /// The segment file (relative) and the record's section offset.
        public var file: String
    }

    /// Streams the changelog records a checkpoint references, in SQN order per backend, within `sqns`.
    /// - Throws: `CheckpointError` for unreadable or damaged segments (file, offset, SQN named).
    public func changelog(
        of metadata: CheckpointMetadata, backendID: String? = nil, sqns: Range<UInt64> = 0..<UInt64.max,
        _ body: (ChangeRecord) throws(CheckpointError) -> Void
    ) throws(CheckpointError) {
        var envelopes = ChangelogSegment.EnvelopeCheck()
        for backend in metadata.backends where backendID == nil || backend.backendID == backendID {
            let from = backend.materialization?.sqn ?? 0
            for section in backend.changelog.sorted(by: { $0.firstSQN < $1.firstSQN })
            where section.endSQN > sqns.lowerBound && section.firstSQN < sqns.upperBound {
                let path = try self.resolve(section.file.path, checkpoint: metadata.checkpointID)
                try envelopes.check(path, fileSystem: self.fileSystem)
                let bytes = try self.fileSystem.read(path, offset: section.offset, count: section.length)
                try ChangelogSegment.records(
                    ofSection: bytes, handle: section, backendID: backend.backendID, path: path
                ) { record throws(CheckpointError) in
                    guard record.sqn >= from, record.sqn < backend.sqn, sqns.contains(record.sqn) else { return }
                    let state = record.column < backend.states.count ? backend.states[record.column].name : "#\(record.column)"
                    try body(ChangeRecord(
                        backendID: backend.backendID, sqn: record.sqn, kind: record.kind, state: state,
                        keyGroup: record.key.count >= 2 ? Int(record.key[0]) << 8 | Int(record.key[1]) : -1,
                        key: record.key, primaryLength: record.primaryLength, value: record.value,
                        file: section.file.path))
                }
            }
        }
    }
}
