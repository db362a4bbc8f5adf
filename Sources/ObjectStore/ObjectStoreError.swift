/// An error from object storage: the server could not be reached, refused the credentials, has no such bucket or
/// object, answered with an error, or timed out after every retry. The message names the endpoint, bucket and key.
public struct ObjectStoreError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. A struct, so adding a code breaks no `switch`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The code's name.
        public var description: String { self.name }

        /// The server could not be reached, or every attempt timed out.
        public static let unreachable = Code(name: "unreachable")
        /// The server refused the credentials or the signature (HTTP 403, `InvalidAccessKeyId`, …).
        public static let accessDenied = Code(name: "accessDenied")
        /// The bucket does not exist.
        public static let noSuchBucket = Code(name: "noSuchBucket")
        /// The object does not exist.
        public static let notFound = Code(name: "notFound")
        /// A conditional create found the object already there (HTTP 412).
        public static let alreadyExists = Code(name: "alreadyExists")
        /// The configuration is incomplete or malformed (a missing key, a bad URL).
        public static let invalidConfiguration = Code(name: "invalidConfiguration")
        /// The server answered with another error.
        public static let server = Code(name: "server")
    }

    /// The kind of failure.
    public var code: Code
    /// What happened, where, and what to do.
    public var message: String
    /// The HTTP status, when the server answered.
    public var status: Int?

    /// Creates an error.
    public init(code: Code, message: String, status: Int? = nil) {
        self.code = code
        self.message = message
        self.status = status
    }

    /// The message.
    public var description: String { self.message }
}
