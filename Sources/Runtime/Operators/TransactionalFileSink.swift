import Foundation
import StateCore

/// A two-phase-commit file sink: records go to an in-progress file; a checkpoint's snapshot closes it, syncs it
/// and renames it pending for that checkpoint; the checkpoint's completion renames pending files to their final
/// names. After a failure, restore commits what the restored checkpoint pre-committed and deletes every other
/// pending or in-progress file of the subtask, so committed output holds each record exactly once.
///
/// Files, under `directory`: `<vertex>-<subtask>-<checkpoint>.txt` (committed), `.pending/…` (pre-committed),
/// `.inprogress/…` (being written). Without checkpointing, the file is committed when the input ends.
public final class TransactionalFileSink<Input>: SinkFunction {
    private let directory: String
    private let prefix: String
    private let oldSubtasks: (Int) -> Bool
    private let format: @Sendable (Input) -> String
    private let checkpointing: Bool
    private var buffer: [UInt8] = []
    private var file: Foundation.FileHandle?
    private var inProgressPath: String
    private var pending: [Int64: String] = [:]
    private var written = 0
    private var throttle: SinkThrottle?

    /// Creates subtask `context.subtask`'s sink writing `format(record)` lines into `directory`; with
    /// `throttle`, it sleeps that long after every 100 records (a slow consumer, for backpressure experiments).
    public init(
        directory: String, context: SinkContext, throttle: Duration? = nil, format: @escaping @Sendable (Input) -> String
    ) throws {
        self.throttle = throttle.map(SinkThrottle.init)
        self.directory = directory
        self.prefix = "\(context.vertex.fileToken)-\(context.subtask)"
        let subtask = context.subtask
        let parallelism = context.parallelism
        self.oldSubtasks = { $0 % parallelism == subtask }
        self.format = format
        self.checkpointing = context.checkpointing
        self.inProgressPath = "\(directory)/.inprogress/\(self.prefix)-a\(context.attempt).part"
        for folder in [directory, directory + "/.pending", directory + "/.inprogress"] {
            do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
                throw RuntimeError(code: .io, message: "the file sink cannot create \(folder): \(error.localizedDescription)")
            }
        }
    }

    /// Appends the record's line.
    public func write(_ value: Input) throws {
        self.buffer.append(contentsOf: self.format(value).utf8)
        self.buffer.append(0x0A)
        if self.buffer.count >= 1 << 16 { try self.writeBuffer() }
        self.throttle?.record()
    }

    private func writeBuffer() throws {
        guard !self.buffer.isEmpty else { return }
        do {
            if self.file == nil {
                // Opened in place (not `FileManager.createFile`, which writes a hidden temporary file beside it
                // first: a kill in between left one that no restore recognised as this subtask's).
                let descriptor = open(self.inProgressPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                guard descriptor >= 0 else {
                    throw RuntimeError(code: .io, message: "the file sink cannot create \(self.inProgressPath) (errno \(errno))")
                }
                self.file = Foundation.FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            }
            try self.file!.write(contentsOf: self.buffer)
            self.written += self.buffer.count
            self.buffer.removeAll(keepingCapacity: true)
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw RuntimeError(code: .io, message: "the file sink cannot write \(self.inProgressPath): \(error.localizedDescription) (is the disk full?)")
        }
    }

    /// Pre-commits: the in-progress file becomes pending for `checkpointID`.
    public func snapshotState(checkpointID: Int64) throws -> [String: String] {
        try self.writeBuffer()
        if let file = self.file {
            do {
                try file.synchronize()
                try file.close()
            } catch {
                throw RuntimeError(code: .io, message: "the file sink cannot sync \(self.inProgressPath): \(error.localizedDescription)")
            }
            self.file = nil
            let name = "\(self.prefix)-\(checkpointID).txt"
            try self.move(self.inProgressPath, to: "\(self.directory)/.pending/\(name)")
            self.pending[checkpointID] = name
        }
        return ["pending": self.pending.keys.sorted().map { self.pending[$0]! }.joined(separator: ",")]
    }

    /// Commits every pending file of `checkpointID` and before.
    public func notifyCheckpointComplete(_ checkpointID: Int64) throws {
        for (id, name) in self.pending where id <= checkpointID {
            try self.commit(name)
            self.pending[id] = nil
        }
    }

    private func commit(_ name: String) throws {
        let source = "\(self.directory)/.pending/\(name)"
        guard FileManager.default.fileExists(atPath: source) else { return }
        try self.move(source, to: "\(self.directory)/\(name)")
    }

    private func move(_ source: String, to destination: String) throws {
        guard rename(source, destination) == 0 else {
            throw RuntimeError(code: .io, message: "the file sink cannot rename \(source) to \(destination) (errno \(errno))")
        }
    }

    /// Commits what the restored checkpoint pre-committed; deletes every other pending and in-progress file of
    /// this subtask (and, after rescaling, of the old subtasks it takes over).
    public func restore(_ states: [[String: String]]) throws {
        for state in states {
            for name in (state["pending"] ?? "").split(separator: ",") where !name.contains("/") {
                try self.commit(String(name))
            }
        }
        for folder in [self.directory + "/.pending", self.directory + "/.inprogress"] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where self.ownsStale(name) {
                try? FileManager.default.removeItem(atPath: "\(folder)/\(name)")
            }
        }
    }

    /// Whether a leftover file belongs to this subtask: `<vertex>-<old subtask>-…` with the old subtask mapped here.
    private func ownsStale(_ name: String) -> Bool {
        let vertex = String(self.prefix[..<self.prefix.lastIndex(of: "-")!])
        guard name.hasPrefix(vertex + "-") else { return false }
        let rest = name.dropFirst(vertex.count + 1)
        guard let old = Int(rest.prefix { $0.isNumber }) else { return false }
        return self.oldSubtasks(old)
    }

    /// Without checkpointing: the input ended, commit the file.
    public func finish() throws {
        guard !self.checkpointing else { return }
        _ = try self.snapshotState(checkpointID: 0)
        try self.notifyCheckpointComplete(0)
    }

    /// Closes the in-progress file (it is deleted at the next restore).
    public func close() {
        try? self.file?.close()
        self.file = nil
    }
}
