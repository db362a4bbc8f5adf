import KeyedState

/// An error from checkpointing or restore: a damaged, missing or too-new file, a path that escapes the checkpoint
/// root, a full disk, or a state that does not match. The message names the file, offset, checkpoint and SQN
/// involved, and what to do.
public struct CheckpointError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. A struct, so adding a code breaks no `switch`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The code's name.
        public var description: String { self.name }

        /// A file's bytes are damaged: bad magic, checksum mismatch, truncated, undecodable.
        public static let corrupt = Code(name: "corrupt")
        /// A file or checkpoint that should exist does not.
        public static let missing = Code(name: "missing")
        /// A file was written by a newer Weir (a format version this build cannot read).
        public static let unsupportedVersion = Code(name: "unsupportedVersion")
        /// A path in metadata leaves the checkpoint root (`..`, absolute, or a symlink out).
        public static let unsafePath = Code(name: "unsafePath")
        /// The device is full; the checkpoint that hit it failed and earlier ones are intact.
        public static let noSpace = Code(name: "noSpace")
        /// Another file-system failure.
        public static let io = Code(name: "io")
        /// The checkpoint root is in use by another process.
        public static let locked = Code(name: "locked")
        /// The snapshot does not fit the backend being restored (serializers, key groups, engine, strategy).
        public static let incompatible = Code(name: "incompatible")
        /// An argument or call order the API does not allow.
        public static let invalidArgument = Code(name: "invalidArgument")
        /// A checkpoint with this id already exists under the root (completed, or with damaged metadata).
        public static let duplicate = Code(name: "duplicate")
        /// The storage could not be used: object storage unreachable or timing out after every retry, credentials
        /// refused, a missing bucket, or another server error (see `cause`). Nothing was deleted; retry once the
        /// storage is back.
        public static let unavailable = Code(name: "unavailable")
        /// The keyed state backend failed (see `cause`).
        public static let state = Code(name: "state")
    }

    /// The kind of failure.
    public var code: Code
    /// What happened, where, and what to do.
    public var message: String
    /// The file concerned, if any.
    public var path: String?
    /// The byte offset in `path`, if known.
    public var offset: Int?
    /// The checkpoint concerned, if any.
    public var checkpointID: Int64?
    /// The changelog sequence number concerned, if any.
    public var sqn: UInt64?
    /// The underlying error, if any.
    public var cause: (any Error & Sendable)?

    /// Creates an error.
    public init(
        code: Code, message: String, path: String? = nil, offset: Int? = nil, checkpointID: Int64? = nil,
        sqn: UInt64? = nil, cause: (any Error & Sendable)? = nil
    ) {
        self.code = code
        self.message = message
        self.path = path
        self.offset = offset
        self.checkpointID = checkpointID
        self.sqn = sqn
        self.cause = cause
    }

    /// The message.
    public var description: String { self.message }

    /// Wraps a keyed-state failure, keeping its message.
    package static func state(_ error: StateError, _ context: String) -> CheckpointError {
        CheckpointError(
            code: error.code == .noSpace ? .noSpace : (error.code == .incompatibleSerializer ? .incompatible : .state),
            message: "\(context): \(error.message)", cause: error)
    }

    /// The same error with the checkpoint named (if it was not already).
    package func inCheckpoint(_ id: Int64?) -> CheckpointError {
        var copy = self
        if copy.checkpointID == nil, let id {
            copy.checkpointID = id
            copy.message = "checkpoint \(id): " + copy.message
        }
        return copy
    }
}
