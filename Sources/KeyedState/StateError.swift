import RocksKit
import StateCore

/// An error from keyed state: a bad registration, a key outside the backend's range, a damaged value, or a
/// storage failure. Messages name the state, key group or path, and what to do.
public struct StateError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. A struct, so adding a code breaks no `switch`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The code's name.
        public var description: String { self.name }

        /// The key's group is not in this backend's key-group range.
        public static let keyOutOfRange = Code(name: "keyOutOfRange")
        /// State was accessed before `setCurrentKey`.
        public static let noCurrentKey = Code(name: "noCurrentKey")
        /// A state name was registered again with another kind, serializer, TTL or separation.
        public static let incompatibleRegistration = Code(name: "incompatibleRegistration")
        /// Stored state was written by a serializer whose schema differs from the one given now.
        public static let incompatibleSerializer = Code(name: "incompatibleSerializer")
        /// A stored value or key could not be decoded.
        public static let corruptValue = Code(name: "corruptValue")
        /// An argument is outside its documented bounds (a name too long, too many states).
        public static let invalidArgument = Code(name: "invalidArgument")
        /// The backend directory is locked by another process or backend.
        public static let locked = Code(name: "locked")
        /// The backend directory (or the database in it) does not exist.
        public static let missing = Code(name: "missing")
        /// The backend's files are corrupt.
        public static let corruption = Code(name: "corruption")
        /// The disk is full; the change that failed did not take effect.
        public static let noSpace = Code(name: "noSpace")
        /// Another storage failure.
        public static let io = Code(name: "io")
        /// The backend was used after `close()`.
        public static let closed = Code(name: "closed")
    }

    /// The kind of failure.
    public var code: Code
    /// What happened, where, and what to do.
    public var message: String
    /// The state concerned, if any.
    public var stateName: String?
    /// The underlying error, if any.
    public var cause: (any Error & Sendable)?

    /// Creates an error.
    public init(code: Code, message: String, stateName: String? = nil, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.stateName = stateName
        self.cause = cause
    }

    /// The message.
    public var description: String { self.message }

    /// Maps a RocksDB failure to a state error that keeps RocksDB's message and names the state.
    package static func storage(_ error: RocksError, state: String?) -> StateError {
        let code: Code
        switch error.code {
        case .locked: code = .locked
        case .missing: code = .missing
        case .corruption: code = .corruption
        case .noSpace: code = .noSpace
        default: code = .io
        }
        let prefix = state.map { "state '\($0)': " } ?? ""
        return StateError(code: code, message: prefix + error.description, stateName: state, cause: error)
    }
}
