/// The files a restore reads, as paths relative to a checkpoint root resolved once each, with all of them checked
/// to be there in one `CheckpointFileSystem.missing` call: on object storage a listing per folder, not a request
/// per changelog section or table file.
struct ResolvedPaths: Sendable {
    /// The absolute paths, each once, in the order first referenced.
    let resolved: [String]
    private let byRelative: [String: String]

    /// Resolves `relatives` (repeats allowed) against `root`.
    /// - Throws: `.missing` naming the first file that is not there; what `CheckpointStorage.resolve` throws for
    ///   a path that leaves the root.
    init(_ relatives: [String], root: String, fileSystem: any CheckpointFileSystem) throws(CheckpointError) {
        var byRelative: [String: String] = [:]
        var resolved: [String] = []
        for relative in relatives where byRelative[relative] == nil {
            let path = try CheckpointStorage.resolve(relative, root: root, fileSystem: fileSystem, checkpoint: nil)
            byRelative[relative] = path
            if !resolved.contains(path) { resolved.append(path) }
        }
        if let path = fileSystem.missing(resolved).first {
            throw CheckpointError(
                code: .missing,
                message: "\(path) is referenced by the checkpoint but missing; the checkpoint root was damaged "
                    + "(restore an older checkpoint or a savepoint)", path: path)
        }
        self.resolved = resolved
        self.byRelative = byRelative
    }

    /// The absolute path of `relative`, one of the paths this was made from.
    func path(_ relative: String) throws(CheckpointError) -> String {
        guard let path = self.byRelative[relative] else {
            throw CheckpointError(
                code: .corrupt, message: "\(relative) was not among the files this restore resolved", path: relative)
        }
        return path
    }
}
