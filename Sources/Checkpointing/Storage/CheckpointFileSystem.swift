/// The file operations checkpointing performs, as a seam: `LocalFileSystem` is the real one (a local directory
/// or a mounted shared file system), `ObjectStoreFileSystem` adds `s3://bucket/key` paths (object storage, with a
/// local cache); tests wrap them to inject faults such as a full disk.
///
/// Paths are absolute. Every method throws `CheckpointError` whose message names the path.
public protocol CheckpointFileSystem: Sendable {
    /// Creates a directory and its missing parents.
    func createDirectory(_ path: String) throws(CheckpointError)
    /// Writes `bytes` to a new (or truncated) file and, when `sync` is set, fsyncs it.
    func write(_ bytes: [UInt8], to path: String, sync: Bool) throws(CheckpointError)
    /// Appends `bytes` to a file, creating it when missing.
    func append(_ bytes: [UInt8], to path: String) throws(CheckpointError)
    /// Fsyncs a file.
    func sync(_ path: String) throws(CheckpointError)
    /// Copies a file, fsyncs the copy, and returns its size and CRC-32C.
    func copy(from source: String, to destination: String) throws(CheckpointError) -> (size: Int, crc32c: UInt32)
    /// Reads a whole file.
    func read(_ path: String) throws(CheckpointError) -> [UInt8]
    /// Reads `count` bytes at `offset`.
    func read(_ path: String, offset: Int, count: Int) throws(CheckpointError) -> [UInt8]
    /// Reads `count` bytes at `offset` into `buffer`, replacing its contents and reusing its storage when it is
    /// large enough (a loop over many reads then allocates once). Defaults to `read(_:offset:count:)`.
    func read(_ path: String, offset: Int, count: Int, into buffer: inout [UInt8]) throws(CheckpointError)
    /// Atomically renames a file (replacing the destination).
    func rename(_ source: String, to destination: String) throws(CheckpointError)
    /// Fsyncs a directory, making renames and creations in it durable.
    func syncDirectory(_ path: String) throws(CheckpointError)
    /// Removes a file, or a directory with everything in it. Missing paths are fine.
    func remove(_ path: String) throws(CheckpointError)
    /// The names in a directory (without `.` and `..`); empty when it does not exist.
    func list(_ path: String) throws(CheckpointError) -> [String]
    /// Whether anything exists at `path` (without following a final symlink).
    func exists(_ path: String) -> Bool
    /// The paths among `paths` where nothing exists, in their order: `exists` for each, checked together where
    /// that is cheaper (object storage lists a folder once instead of asking about each of its files).
    func missing(_ paths: [String]) -> [String]
    /// Whether `path` is a directory.
    func isDirectory(_ path: String) -> Bool
    /// The size of a regular file, or `nil`.
    func size(_ path: String) -> Int?
    /// Creates a hard link (or, across devices, a copy).
    func link(_ source: String, to destination: String) throws(CheckpointError)
    /// The canonical absolute path (symlinks resolved), or `nil` when it does not exist.
    func realPath(_ path: String) -> String?
    /// Creates the file `path` with `bytes` atomically and durably: readers see all of it or nothing, and after
    /// a crash it is either complete or absent. A checkpoint's `_metadata` is written this way. Defaults to a
    /// staging name, fsync, rename and directory fsyncs; object storage makes it a conditional create that
    /// fails with `.duplicate` when the object exists.
    func publish(_ bytes: [UInt8], to path: String) throws(CheckpointError)
    /// Removes files (not directories), missing ones fine: everything it can, then throws the first failure.
    /// Defaults to `remove(_:)` for each; object storage deletes them in batches.
    func removeFiles(_ paths: [String]) throws(CheckpointError)
    /// Fetches files that are about to be read or copied, in parallel, where that is faster (object storage
    /// downloads them into its cache). Defaults to nothing.
    func prefetch(_ paths: [String]) throws(CheckpointError)
}

extension CheckpointFileSystem {
    /// Reads into `buffer` by way of `read(_:offset:count:)` (a new array per call).
    public func read(_ path: String, offset: Int, count: Int, into buffer: inout [UInt8]) throws(CheckpointError) {
        buffer = try self.read(path, offset: offset, count: count)
    }

    /// Writes `<path>.inprogress`, fsyncs it, renames it to `path`, and fsyncs the parent directories.
    public func publish(_ bytes: [UInt8], to path: String) throws(CheckpointError) {
        let staging = path + ".inprogress"
        try self.write(bytes, to: staging, sync: true)
        CrashPoint.hit(.midMetadataPublish)
        try self.rename(staging, to: path)
        let folder = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        try self.syncDirectory(folder)
        if let slash = folder.lastIndex(of: "/"), slash != folder.startIndex {
            try self.syncDirectory(String(folder[..<slash]))
        }
    }

    /// Removes each file with `remove(_:)`.
    public func removeFiles(_ paths: [String]) throws(CheckpointError) {
        var failure: CheckpointError?
        for path in paths {
            do throws(CheckpointError) { try self.remove(path) } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
    }

    /// The paths `exists` denies, one by one.
    public func missing(_ paths: [String]) -> [String] { paths.filter { !self.exists($0) } }

    /// Does nothing: local files need no fetching.
    public func prefetch(_ paths: [String]) throws(CheckpointError) {}
}
