/// One POSIX-level file operation that a checkpoint root saw, as `RecordingFileSystem` records it and
/// `CrashStateExplorer` replays it. Paths are relative to the root; contents are the bytes as written.
///
/// The operations are what durability rules talk about (ALICE's "logical operations"): a directory entry changes
/// (`makeDirectory`, `create`, `rename`, `link`, `unlink`, `removeDirectory`) and becomes durable with an fsync of
/// its directory; a file's data changes (`write`) and becomes durable with an fsync of the file.
public enum FileOperation: Sendable, Hashable, CustomStringConvertible {
    /// `mkdir`: a new, empty directory.
    case makeDirectory(String)
    /// `open(O_CREAT)` of a path that did not exist: a new, empty file.
    case create(String)
    /// Data written to a file: its whole new contents (`O_TRUNC`), or bytes appended to it.
    case write(String, [UInt8], append: Bool)
    /// `fsync` of a file.
    case sync(String)
    /// `rename(2)`: the source's entry moves to the destination, replacing what was there.
    case rename(String, String)
    /// `link(2)` to a file whose contents are already durable (RocksDB syncs its files before they are linked).
    case link(String, [UInt8])
    /// `unlink(2)` of a file.
    case unlink(String)
    /// `rmdir(2)` of an empty directory.
    case removeDirectory(String)
    /// `fsync` of a directory: the entry changes in it so far are durable.
    case syncDirectory(String)

    public var description: String {
        switch self {
        case .makeDirectory(let path): "mkdir \(path)"
        case .create(let path): "create \(path)"
        case .write(let path, let bytes, let append): "\(append ? "append" : "write") \(path) (\(bytes.count) B)"
        case .sync(let path): "fsync \(path)"
        case .rename(let source, let target): "rename \(source) → \(target)"
        case .link(let path, let bytes): "link \(path) (\(bytes.count) B)"
        case .unlink(let path): "unlink \(path)"
        case .removeDirectory(let path): "rmdir \(path)"
        case .syncDirectory(let path): "fsync directory \(path.isEmpty ? "." : path)"
        }
    }
}
