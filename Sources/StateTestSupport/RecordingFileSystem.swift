import Checkpointing
import Synchronization

/// The local file system, recording while it is armed every change it makes under one root as POSIX-level
/// `FileOperation`s, in the order they took effect, with the bytes written. `CrashStateExplorer` turns the record
/// into the directories a crash could have left (ALICE's approach: record a protocol once, then build its crash
/// states instead of crashing a process at each point).
///
/// Each changing call runs under one lock with its recording, so the record is a true order of the calls even
/// when several threads (a checkpoint's and the deleter's) change the root at once.
public final class RecordingFileSystem: CheckpointFileSystem, Sendable {
    private struct State {
        var recording = false
        var operations: [FileOperation] = []
    }

    private let base = LocalFileSystem()
    private let root: String
    private let state = Mutex(State())

    /// A file system that records changes under `root` (created if missing; its canonical path is used).
    public init(root: String) throws(CheckpointError) {
        try self.base.createDirectory(root)
        self.root = self.base.realPath(root) ?? root
    }

    /// Starts recording (and forgets what was recorded before).
    public func startRecording() {
        self.state.withLock { $0 = State(recording: true) }
    }

    /// Stops recording and returns what was recorded.
    public func stopRecording() -> [FileOperation] {
        self.state.withLock { state in
            defer { state = State() }
            return state.operations
        }
    }

    /// `path` relative to the root (`""` for the root itself), or nil outside it.
    private func relative(_ path: String) -> String? {
        if path == self.root { return "" }
        guard path.hasPrefix(self.root + "/") else { return nil }
        return String(path.dropFirst(self.root.count + 1))
    }

    /// Runs `change` under the lock and records what `operations` returns for it (evaluated before the change,
    /// so it can look at what was there), when recording and `path` is under the root.
    private func changing<T>(
        _ path: String, _ operations: (String) throws(CheckpointError) -> [FileOperation],
        _ change: () throws(CheckpointError) -> T
    ) throws(CheckpointError) -> T {
        try self.state.withLock { state throws(CheckpointError) -> T in
            guard state.recording, let relative = self.relative(path) else { return try change() }
            let recorded = try operations(relative)
            let result = try change()
            state.operations += recorded
            return result
        }
    }

    /// `create` when nothing is at `path` yet.
    private func creation(_ path: String, _ relative: String) -> [FileOperation] {
        self.base.exists(path) ? [] : [.create(relative)]
    }

    public func createDirectory(_ path: String) throws(CheckpointError) {
        try self.changing(path, { relative throws(CheckpointError) in
            var missing: [FileOperation] = []
            var prefix = ""
            for component in relative.split(separator: "/") {
                prefix += prefix.isEmpty ? String(component) : "/\(component)"
                if !self.base.isDirectory(self.root + "/" + prefix) { missing.append(.makeDirectory(prefix)) }
            }
            return missing
        }) { () throws(CheckpointError) in try self.base.createDirectory(path) }
    }

    public func write(_ bytes: [UInt8], to path: String, sync: Bool) throws(CheckpointError) {
        try self.changing(path, { relative in
            self.creation(path, relative) + [.write(relative, bytes, append: false)] + (sync ? [.sync(relative)] : [])
        }) { () throws(CheckpointError) in try self.base.write(bytes, to: path, sync: sync) }
    }

    public func append(_ bytes: [UInt8], to path: String) throws(CheckpointError) {
        try self.changing(path, { relative in self.creation(path, relative) + [.write(relative, bytes, append: true)] }) {
            () throws(CheckpointError) in try self.base.append(bytes, to: path)
        }
    }

    public func sync(_ path: String) throws(CheckpointError) {
        try self.changing(path, { relative in [.sync(relative)] }) { () throws(CheckpointError) in
            try self.base.sync(path)
        }
    }

    public func copy(from source: String, to destination: String) throws(CheckpointError) -> (size: Int, crc32c: UInt32) {
        try self.changing(destination, { relative throws(CheckpointError) in
            self.creation(destination, relative) + [.write(relative, try self.base.read(source), append: false), .sync(relative)]
        }) { () throws(CheckpointError) in try self.base.copy(from: source, to: destination) }
    }

    public func read(_ path: String) throws(CheckpointError) -> [UInt8] { try self.base.read(path) }

    public func read(_ path: String, offset: Int, count: Int) throws(CheckpointError) -> [UInt8] {
        try self.base.read(path, offset: offset, count: count)
    }

    public func read(_ path: String, offset: Int, count: Int, into buffer: inout [UInt8]) throws(CheckpointError) {
        try self.base.read(path, offset: offset, count: count, into: &buffer)
    }

    public func rename(_ source: String, to destination: String) throws(CheckpointError) {
        try self.changing(destination, { relative in
            [.rename(self.relative(source) ?? source, relative)]
        }) { () throws(CheckpointError) in try self.base.rename(source, to: destination) }
    }

    public func syncDirectory(_ path: String) throws(CheckpointError) {
        try self.changing(path, { relative in [.syncDirectory(relative)] }) { () throws(CheckpointError) in
            try self.base.syncDirectory(path)
        }
    }

    public func remove(_ path: String) throws(CheckpointError) {
        try self.changing(path, { relative throws(CheckpointError) in try self.removal(path, relative) }) {
            () throws(CheckpointError) in try self.base.remove(path)
        }
    }

    /// What `LocalFileSystem.remove` does to `path`: unlinks and rmdirs, children first, in its order.
    private func removal(_ path: String, _ relative: String) throws(CheckpointError) -> [FileOperation] {
        guard self.base.exists(path) else { return [] }
        guard self.base.isDirectory(path) else { return [.unlink(relative)] }
        var operations: [FileOperation] = []
        for name in try self.base.list(path) {
            operations += try self.removal("\(path)/\(name)", "\(relative)/\(name)")
        }
        return operations + [.removeDirectory(relative)]
    }

    public func list(_ path: String) throws(CheckpointError) -> [String] { try self.base.list(path) }
    public func exists(_ path: String) -> Bool { self.base.exists(path) }
    public func isDirectory(_ path: String) -> Bool { self.base.isDirectory(path) }
    public func size(_ path: String) -> Int? { self.base.size(path) }

    public func link(_ source: String, to destination: String) throws(CheckpointError) {
        try self.changing(destination, { relative throws(CheckpointError) in
            [.link(relative, try self.base.read(source))]
        }) { () throws(CheckpointError) in try self.base.link(source, to: destination) }
    }

    public func realPath(_ path: String) -> String? { self.base.realPath(path) }
}
