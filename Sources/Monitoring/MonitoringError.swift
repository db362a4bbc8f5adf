/// Why the metrics endpoint could not start.
public struct MonitoringError: Error, Sendable, CustomStringConvertible {
    /// What failed and what to do about it.
    public var message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    public var description: String { self.message }
}
