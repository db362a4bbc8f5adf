import Checkpointing

/// The local file system with hooks for tests: `beforeWrite` sees the destination of every write, append and copy
/// and may fail it (a full disk); `afterRename` sees the destination of every rename once it is done (a
/// checkpoint's `_metadata` being published); `beforeRead` sees the path of every ranged read (a job changing the
/// root while a tool reads it).
public final class InterceptingFileSystem: CheckpointFileSystem, Sendable {
    private let base = LocalFileSystem()
    private let beforeWrite: @Sendable (String) throws(CheckpointError) -> Void
    private let afterRename: @Sendable (String) -> Void
    private let beforeRead: @Sendable (String) -> Void

    /// Creates the file system; the hooks default to doing nothing.
    public init(
        beforeWrite: @escaping @Sendable (String) throws(CheckpointError) -> Void = { _ in },
        afterRename: @escaping @Sendable (String) -> Void = { _ in },
        beforeRead: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.beforeWrite = beforeWrite
        self.afterRename = afterRename
        self.beforeRead = beforeRead
    }

    public func createDirectory(_ path: String) throws(CheckpointError) { try self.base.createDirectory(path) }
    public func write(_ bytes: [UInt8], to path: String, sync: Bool) throws(CheckpointError) {
        try self.beforeWrite(path)
        try self.base.write(bytes, to: path, sync: sync)
    }
    public func append(_ bytes: [UInt8], to path: String) throws(CheckpointError) {
        try self.beforeWrite(path)
        try self.base.append(bytes, to: path)
    }
    public func sync(_ path: String) throws(CheckpointError) { try self.base.sync(path) }
    public func copy(from source: String, to destination: String) throws(CheckpointError) -> (size: Int, crc32c: UInt32) {
        try self.beforeWrite(destination)
        return try self.base.copy(from: source, to: destination)
    }
    public func read(_ path: String) throws(CheckpointError) -> [UInt8] { try self.base.read(path) }
    public func read(_ path: String, offset: Int, count: Int) throws(CheckpointError) -> [UInt8] {
        self.beforeRead(path)
        return try self.base.read(path, offset: offset, count: count)
    }
    public func read(_ path: String, offset: Int, count: Int, into buffer: inout [UInt8]) throws(CheckpointError) {
        self.beforeRead(path)
        try self.base.read(path, offset: offset, count: count, into: &buffer)
    }
    public func rename(_ source: String, to destination: String) throws(CheckpointError) {
        try self.base.rename(source, to: destination)
        self.afterRename(destination)
    }
    public func syncDirectory(_ path: String) throws(CheckpointError) { try self.base.syncDirectory(path) }
    public func remove(_ path: String) throws(CheckpointError) { try self.base.remove(path) }
    public func list(_ path: String) throws(CheckpointError) -> [String] { try self.base.list(path) }
    public func exists(_ path: String) -> Bool { self.base.exists(path) }
    public func isDirectory(_ path: String) -> Bool { self.base.isDirectory(path) }
    public func size(_ path: String) -> Int? { self.base.size(path) }
    public func link(_ source: String, to destination: String) throws(CheckpointError) {
        try self.base.link(source, to: destination)
    }
    public func realPath(_ path: String) -> String? { self.base.realPath(path) }
}
