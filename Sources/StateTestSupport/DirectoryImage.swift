import Checkpointing

/// A directory tree held in memory: its subdirectories and its files' contents, by path relative to its root.
/// `CrashStateExplorer` builds crash states as images; `materialize(at:)` writes one out for a restore to read.
public struct DirectoryImage: Sendable, Hashable {
    /// The subdirectories (not the root itself).
    public var directories: Set<String> = []
    /// The regular files and their contents.
    public var files: [String: [UInt8]] = [:]

    /// An empty image.
    public init() {}

    /// Reads the tree under `root`.
    public static func capture(_ root: String) throws(CheckpointError) -> DirectoryImage {
        let fileSystem = LocalFileSystem()
        var image = DirectoryImage()
        func walk(_ relative: String) throws(CheckpointError) {
            let path = relative.isEmpty ? root : "\(root)/\(relative)"
            for name in try fileSystem.list(path) {
                let child = relative.isEmpty ? name : "\(relative)/\(name)"
                if fileSystem.isDirectory("\(root)/\(child)") {
                    image.directories.insert(child)
                    try walk(child)
                } else {
                    image.files[child] = try fileSystem.read("\(root)/\(child)")
                }
            }
        }
        try walk("")
        return image
    }

    /// Writes the tree into `root`, which must not exist yet.
    public func materialize(at root: String) throws(CheckpointError) {
        let fileSystem = LocalFileSystem()
        try fileSystem.createDirectory(root)
        for directory in self.directories.sorted() { try fileSystem.createDirectory("\(root)/\(directory)") }
        for (path, bytes) in self.files { try fileSystem.write(bytes, to: "\(root)/\(path)", sync: false) }
    }

    /// The files that differ from `other`'s: missing there, added, or with other contents (for messages).
    public func differences(from other: DirectoryImage) -> [String] {
        Set(self.files.keys).union(other.files.keys).filter { self.files[$0] != other.files[$0] }.sorted()
    }
}
