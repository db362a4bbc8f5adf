import Checkpointing
import KeyedState

/// An error from building or running a job: a job graph that cannot run, a failed checkpoint or restore, a user
/// function that threw, a file a source or sink could not use. The message names the operator, subtask,
/// checkpoint or file involved, and what to do.
public struct RuntimeError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. A struct, so adding a code breaks no `switch`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The code's name.
        public var description: String { self.name }

        /// The job graph or configuration is invalid (nothing ran).
        public static let invalidJob = Code(name: "invalidJob")
        /// A user function threw.
        public static let userFunction = Code(name: "userFunction")
        /// Checkpointing or restore failed (see `cause`).
        public static let checkpoint = Code(name: "checkpoint")
        /// Keyed state failed (see `cause`).
        public static let state = Code(name: "state")
        /// A source or sink file could not be read or written.
        public static let io = Code(name: "io")
        /// A record could not be deserialized from a channel or channel state.
        public static let serialization = Code(name: "serialization")
        /// The job failed more often than its restart strategy allows.
        public static let restartsExhausted = Code(name: "restartsExhausted")
    }

    /// The kind of failure.
    public var code: Code
    /// What happened, where, and what to do.
    public var message: String
    /// The underlying error, if any.
    public var cause: (any Error & Sendable)?

    /// Creates an error.
    public init(code: Code, message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// The message.
    public var description: String { self.message }

    /// Wraps any error thrown inside a task, naming the task.
    static func wrap(_ error: any Error, task: String) -> RuntimeError {
        switch error {
        case let error as RuntimeError:
            return error.message.hasPrefix(task) ? error : RuntimeError(code: error.code, message: "\(task): \(error.message)", cause: error.cause)
        case let error as CheckpointError:
            return RuntimeError(code: .checkpoint, message: "\(task): \(error.message)", cause: error)
        case let error as StateError:
            return RuntimeError(code: .state, message: "\(task): \(error.message)", cause: error)
        case let error as SerializationError:
            return RuntimeError(code: .serialization, message: "\(task): \(error)", cause: error)
        default:
            return RuntimeError(code: .userFunction, message: "\(task): a user function threw \(error)", cause: SendableBox("\(error)"))
        }
    }
}

/// An exception a test or benchmark injects on purpose.
public struct InjectedFailure: Error, Sendable, CustomStringConvertible {
    /// Where it was injected.
    public var message: String
    /// The message.
    public var description: String { self.message }
}

/// A description of a non-Sendable error.
struct SendableBox: Error, Sendable, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
