import CRocksDB

/// An error reported by RocksDB or by the RocksKit wrapper, with a message that names the database path and what
/// to do next.
public struct RocksError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. A struct, so adding a code breaks no `switch`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The code's name, e.g. `locked`.
        public var description: String { self.name }

        /// Another process (or another open handle in this process) holds the database's LOCK file.
        public static let locked = Code(name: "locked")
        /// The database directory does not exist or holds no database, and creating one was not asked for.
        public static let missing = Code(name: "missing")
        /// RocksDB found corrupt or unreadable files (bad checksum, truncated SST, bad MANIFEST).
        public static let corruption = Code(name: "corruption")
        /// The device is full; the write that failed did not take effect.
        public static let noSpace = Code(name: "noSpace")
        /// A different I/O failure (permissions, EIO).
        public static let io = Code(name: "io")
        /// An argument RocksDB refused (an option combination, a column family that exists).
        public static let invalidArgument = Code(name: "invalidArgument")
        /// Anything else RocksDB reported.
        public static let other = Code(name: "other")
    }

    /// The kind of failure.
    public var code: Code
    /// What happened, where, and what to do next.
    public var message: String
    /// The database directory the failure concerns.
    public var path: String
    /// RocksDB's own status text, verbatim.
    public var rocksStatus: String

    /// Creates an error.
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - message: What happened and what to do.
    ///   - path: The database directory.
    ///   - rocksStatus: RocksDB's status text, if any.
    public init(code: Code, message: String, path: String, rocksStatus: String = "") {
        self.code = code
        self.message = message
        self.path = path
        self.rocksStatus = rocksStatus
    }

    /// `message`, followed by RocksDB's status when it adds something.
    public var description: String {
        self.rocksStatus.isEmpty || self.message.contains(self.rocksStatus)
            ? self.message : "\(self.message) (RocksDB: \(self.rocksStatus))"
    }

    /// Classifies a RocksDB status string and phrases the next step.
    static func classify(status: String, operation: String, path: String) -> RocksError {
        let lowered = status.lowercased()
        let code: Code
        let advice: String
        if lowered.contains("lock") && (lowered.contains("temporarily unavailable") || lowered.contains("lock hold")) {
            code = .locked
            advice = "another process or backend has this RocksDB directory open; stop it or use another directory"
        } else if lowered.contains("no space left") || lowered.contains("enospc") {
            code = .noSpace
            advice = "the disk is full; free space and retry (the failed write did not take effect)"
        } else if lowered.hasPrefix("corruption") || lowered.contains("corrupt") || lowered.contains("checksum") {
            code = .corruption
            advice = "the database files are damaged; delete the directory and restore from the last checkpoint"
        } else if lowered.contains("does not exist") || lowered.contains("no such file") {
            code = .missing
            advice = "the directory holds no RocksDB database; check the path or create a new backend there"
        } else if lowered.hasPrefix("invalid argument") {
            code = .invalidArgument
            advice = "RocksDB refused the arguments"
        } else if lowered.hasPrefix("io error") {
            code = .io
            advice = "check permissions and the device"
        } else {
            code = .other
            advice = "see RocksDB's status"
        }
        return RocksError(
            code: code,
            message: "RocksDB \(operation) failed for \(path): \(advice). RocksDB said: \(status)",
            path: path,
            rocksStatus: status
        )
    }
}

/// Runs a C call that reports failure through `char** errptr`, and turns a reported error into a `RocksError`,
/// freeing RocksDB's message with `rocksdb_free`.
@inline(__always)
func withRocksError<R>(
    operation: @autoclosure () -> String,
    path: @autoclosure () -> String,
    _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> R
) throws(RocksError) -> R {
    var error: UnsafeMutablePointer<CChar>? = nil
    let result = body(&error)
    if let error {
        let status = String(cString: error)
        rocksdb_free(error)
        throw RocksError.classify(status: status, operation: operation(), path: path())
    }
    return result
}
