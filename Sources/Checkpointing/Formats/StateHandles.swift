import KeyedState
import StateCore

/// A file a checkpoint references: its path relative to the checkpoint (or savepoint) root, its size and
/// CRC-32C, and for a materialized RocksDB file the name it has inside the database directory.
public struct StoredFile: Sendable, Hashable, Codable {
    /// The path relative to the root, e.g. `shared/4f1c…-000012.sst`.
    public var path: String
    /// The file's size in bytes.
    public var size: Int
    /// CRC-32C of the whole file.
    public var crc32c: UInt32
    /// The file's name in the RocksDB directory (materialized files only).
    public var localName: String?

    /// Creates the reference to a stored file.
    public init(path: String, size: Int, crc32c: UInt32, localName: String? = nil) {
        self.path = path
        self.size = size
        self.crc32c = crc32c
        self.localName = localName
    }

    /// Why `localName` cannot name a file inside a RocksDB directory (missing, empty, absolute, `.`/`..`, with a
    /// `/` or NUL), or nil when it can. Restore refuses such a handle; `weir verify` reports it.
    public var localNameProblem: String? {
        guard let name = self.localName else { return "has no local name" }
        if name.isEmpty || name == "." || name == ".." || name.contains("/") || name.contains("\0") {
            return "has the local name '\(name)', which is empty, absolute, '.' or '..', or contains '/'"
        }
        return nil
    }
}

/// One backend's part of a changelog segment file: the records with SQNs `firstSQN ..< firstSQN + count`.
public struct ChangelogSectionHandle: Sendable, Hashable, Codable {
    /// The segment file (relative path, size and checksum of the whole file).
    public var file: StoredFile
    /// Where the section starts in the file.
    public var offset: Int
    /// The section's length in bytes (header and records).
    public var length: Int
    /// The SQN of the section's first record.
    public var firstSQN: UInt64
    /// The number of records.
    public var count: Int

    /// The SQN after the section's last record.
    public var endSQN: UInt64 { self.firstSQN + UInt64(self.count) }
}

/// A consistent image of a backend at SQN `sqn`: either a RocksDB checkpoint's files or a state snapshot file.
public struct MaterializationHandle: Sendable, Hashable, Codable {
    /// How the image is stored.
    public enum Format: String, Sendable, Codable {
        /// RocksDB's own files (SST, blob, MANIFEST, OPTIONS, CURRENT).
        case rocksDB
        /// One Weir state snapshot file (`docs/FORMATS.md`): every entry written out.
        case stateSnapshot
    }

    /// A number unique within the backend's history.
    public var id: Int64
    /// The SQN the image reflects: every change below it, none at or above it.
    public var sqn: UInt64
    /// How the image is stored.
    public var format: Format
    /// The files of the image.
    public var files: [StoredFile]

    /// Creates the reference to a stored file.
    public init(id: Int64, sqn: UInt64, format: Format, files: [StoredFile]) {
        self.id = id
        self.sqn = sqn
        self.format = format
        self.files = files
    }

    /// Total bytes of the image's files.
    public var bytes: Int { self.files.reduce(0) { $0 + $1.size } }
}

/// What restoring one keyed state backend needs: which states it has, its key groups, the materialized image and
/// the changelog since.
public struct BackendStateHandle: Sendable, Hashable, Codable {
    /// The backend's identity within the job (`<operator>/<subtask>`).
    public var backendID: String
    /// The strategy that wrote this handle.
    public var strategy: SnapshotStrategy.Kind
    /// The engine that wrote it (`rocksDB` or `heap`).
    public var engine: String
    /// The key groups the backend owned.
    public var keyGroups: KeyGroupRange
    /// The job's number of key groups.
    public var maxParallelism: Int
    /// The key serializer's schema.
    public var keySchema: SerializerSchema
    /// Every state, in column order (the `column` of changelog records and snapshot entries).
    public var states: [StateMetadata]
    /// The SQN the next change gets: the handle covers every change below it.
    public var sqn: UInt64
    /// The materialized image (`nil`: the backend was empty).
    public var materialization: MaterializationHandle?
    /// Changelog sections covering `[materialization.sqn, sqn)`, in SQN order.
    public var changelog: [ChangelogSectionHandle]

    /// Every file this handle references (relative paths).
    public var referencedPaths: Set<String> {
        var paths = Set(self.materialization?.files.map(\.path) ?? [])
        for section in self.changelog { paths.insert(section.file.path) }
        return paths
    }

    /// Bytes of the changelog sections this handle references.
    public var changelogBytes: Int { self.changelog.reduce(0) { $0 + $1.length } }
}
