import Foundation

/// A child process run to its end, as the CLI tests run `weir`: its exit status and what it printed.
public struct FinishedProcess: Sendable {
    /// The exit status (or the signal number when it did not exit).
    public var status: Int32
    /// Whether it ended by a signal rather than by exiting.
    public var crashed: Bool
    /// Standard output.
    public var output: String
    /// Standard error.
    public var errors: String

    /// Runs `executable` with `arguments` and `environment` (default: this process's) and waits for it. Both
    /// pipes are drained before the wait, so a child printing more than a pipe holds does not block.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil
    ) throws -> FinishedProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment ?? ProcessInfo.processInfo.environment
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let errorText = ErrorText()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            errorText.text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        group.wait()
        process.waitUntilExit()
        return FinishedProcess(
            status: process.terminationStatus, crashed: process.terminationReason != .exit, output: text, errors: errorText.text)
    }
}

/// Standard error as the reading thread left it (read once, before the wait returns).
private final class ErrorText: @unchecked Sendable {
    var text = ""
}
