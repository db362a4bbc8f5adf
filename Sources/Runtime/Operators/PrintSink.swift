import Foundation

/// A sink that prints each record on standard output, prefixed with the subtask (`1> record`) when the vertex
/// has more than one.
public final class PrintSink<Input>: SinkFunction {
    private let prefix: String
    private let format: @Sendable (Input) -> String
    private var buffer: [UInt8] = []

    /// Creates a sink printing `format(record)`.
    public init(context: SinkContext, format: @escaping @Sendable (Input) -> String = { "\($0)" }) {
        self.prefix = context.parallelism > 1 ? "\(context.subtask + 1)> " : ""
        self.format = format
    }

    /// Prints the record (buffered; flushed every 4 KiB, at checkpoints and at the end).
    public func write(_ value: Input) throws {
        self.buffer.append(contentsOf: (self.prefix + self.format(value) + "\n").utf8)
        if self.buffer.count >= 4096 { self.flush() }
    }

    private func flush() {
        guard !self.buffer.isEmpty else { return }
        Foundation.FileHandle.standardOutput.write(Data(self.buffer))
        self.buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes.
    public func snapshotState(checkpointID: Int64) throws -> [String: String] {
        self.flush()
        return [:]
    }

    /// Flushes.
    public func finish() throws { self.flush() }

    /// Flushes.
    public func close() { self.flush() }
}
