import Foundation

/// A source reading a text file line by line: subtask `s` of `p` emits the lines whose index `i` has
/// `i % p == s`. Its position (byte offset and index of the next line) is stored in checkpoints, so a restored
/// job continues after the last line the checkpoint covers. Lines are split at `\n` (a trailing `\r` is dropped).
public final class FileSource: SourceFunction {
    private let path: String
    private let subtask: Int
    private let parallelism: Int
    private var handle: Foundation.FileHandle?
    private var buffer: [UInt8] = []
    /// Byte offset of `buffer[0]` in the file.
    private var bufferOffset: UInt64 = 0
    private var lineIndex = 0
    private var atEnd = false

    /// Creates subtask `context.subtask`'s reader of `path`.
    public init(path: String, context: SourceContext) {
        self.path = path
        self.subtask = context.subtask
        self.parallelism = context.parallelism
    }

    private func open() throws -> Foundation.FileHandle {
        if let handle = self.handle { return handle }
        guard let handle = Foundation.FileHandle(forReadingAtPath: self.path) else {
            throw RuntimeError(code: .io, message: "the file source cannot open \(self.path): it is missing or unreadable")
        }
        do { try handle.seek(toOffset: self.bufferOffset) } catch {
            throw RuntimeError(code: .io, message: "the file source cannot seek to byte \(self.bufferOffset) of \(self.path): \(error.localizedDescription)")
        }
        self.handle = handle
        return handle
    }

    /// Emits up to `limit` of this subtask's lines.
    public func emit(limit: Int, into out: (String) throws -> Void) throws -> SourceStatus {
        let handle = try self.open()
        var emitted = 0
        while emitted < limit {
            guard let newline = self.buffer.firstIndex(of: 0x0A) else {
                if self.atEnd {
                    if self.buffer.isEmpty { return .finished }
                    self.buffer.append(0x0A)
                    continue
                }
                let chunk: Data?
                do { chunk = try handle.read(upToCount: 1 << 16) } catch {
                    throw RuntimeError(code: .io, message: "the file source cannot read \(self.path) at byte \(self.bufferOffset + UInt64(self.buffer.count)): \(error.localizedDescription)")
                }
                if let chunk, !chunk.isEmpty { self.buffer.append(contentsOf: chunk) } else { self.atEnd = true }
                continue
            }
            var line = self.buffer[..<newline]
            if line.last == 0x0D { line = line.dropLast() }
            let mine = self.lineIndex % self.parallelism == self.subtask
            let text = mine ? String(decoding: line, as: UTF8.self) : nil
            // The position moves past the line before it is emitted: a checkpoint after this call covers it.
            self.bufferOffset += UInt64(newline + 1)
            self.buffer.removeSubrange(...newline)
            self.lineIndex += 1
            if let text {
                try out(text)
                emitted += 1
            }
        }
        return .more
    }

    /// `offset` (byte of the next line) and `line` (its index).
    public func snapshotState() -> [String: String] {
        ["offset": String(self.bufferOffset), "line": String(self.lineIndex)]
    }

    /// Resumes at the stored line.
    public func restore(_ state: [String: String]) throws {
        guard let offsetText = state["offset"], let lineText = state["line"] else { return }
        guard let offset = UInt64(offsetText), let line = Int(lineText) else {
            throw RuntimeError(code: .checkpoint, message: "the file source position '\(offsetText)'/'\(lineText)' in the checkpoint is not a byte offset and line index")
        }
        self.bufferOffset = offset
        self.lineIndex = line
        self.buffer = []
        self.atEnd = false
        try? self.handle?.close()
        self.handle = nil
    }
}

extension StreamJob {
    /// Adds a source vertex `name` reading the lines of `path`.
    public func textFile(_ path: String, name: String = "file", parallelism: Int? = nil) -> DataStream<String> {
        self.source(name: name, parallelism: parallelism) { FileSource(path: path, context: $0) }
    }
}
