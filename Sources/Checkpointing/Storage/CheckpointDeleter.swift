import StateCore
import Synchronization

/// What to remove under a checkpoint root, in this order: the `_metadata` of each checkpoint (from then on its
/// folder is no longer a checkpoint, whatever happens next), then those folders, then folders of checkpoints that
/// never completed, then files. Relative paths; every one is resolved inside the root before it is removed.
struct Deletion: Sendable, Equatable {
    /// Checkpoints (completed, or with damaged metadata) whose folders go, `_metadata` first.
    var checkpoints: [Int64] = []
    /// Checkpoint folders without `_metadata` (aborted, crashed mid-publish).
    var abortedFolders: [String] = []
    /// Files nothing needs any more (as the registry decided), or a publish's staging file.
    var files: [String] = []

    /// Whether it removes nothing.
    var isEmpty: Bool { self.checkpoints.isEmpty && self.abortedFolders.isEmpty && self.files.isEmpty }
}

/// The one place files under a checkpoint root are removed. `CheckpointStorage` decides what goes (its registry of
/// references, live sets, pins and holds; subsumption; aborts; startup recovery; `gc`; a requested clear) and hands
/// the decision here: in the background on the checkpointing path (`submit`), or at once for tools (`perform`).
/// Both run in one order: a `perform` first waits for every submitted deletion.
final class CheckpointDeleter: Sendable {
    private let root: String
    private let fileSystem: any CheckpointFileSystem
    private let worker = WorkerThread(name: "weir-cleanup")
    /// Told, for each checkpoint of a deletion, whether its `_metadata` is gone; returns the files that the
    /// storage released because of it (removed next). Set once by the storage.
    private let retired = Mutex<(@Sendable (Int64, Bool) -> [String])?>(nil)

    init(root: String, fileSystem: any CheckpointFileSystem) {
        self.root = root
        self.fileSystem = fileSystem
    }

    /// Sets the storage's answer to a checkpoint's `_metadata` being removed (`true`) or not (`false`).
    func onRetired(_ body: @escaping @Sendable (Int64, Bool) -> [String]) { self.retired.withLock { $0 = body } }

    /// Removes `deletion` on the cleanup thread, off the checkpointing path. Failures are left for the next start
    /// (what could not be removed is unreferenced, and startup recovery collects it).
    func submit(_ deletion: Deletion) {
        guard !deletion.isEmpty else { return }
        self.worker.submit { [self] in try? self.remove(deletion) }
    }

    /// Removes `deletion` now, after every submitted one.
    /// - Throws: `.io` (or `.unsafePath`) naming the first path that could not be removed; everything else was
    ///   removed, and running it again finishes the rest.
    func perform(_ deletion: Deletion) throws(CheckpointError) {
        self.worker.drain()
        try self.remove(deletion)
    }

    /// Blocks until every submitted deletion is done.
    func drain() { self.worker.drain() }

    /// Finishes submitted deletions and ends the thread.
    func stop() { self.worker.stop() }

    /// Removes everything it can (a failure does not stop the rest), then throws the first failure.
    private func remove(_ deletion: Deletion) throws(CheckpointError) {
        if !deletion.isEmpty {
            CheckpointingLog.logger.debug(
                "deleting under \(self.root)",
                metadata: [
                    "checkpoints": "\(deletion.checkpoints)", "abortedFolders": "\(deletion.abortedFolders)",
                    "files": "\(deletion.files.count)",
                ])
        }
        var failure: CheckpointError?
        func attempt(_ body: () throws(CheckpointError) -> Void) {
            do throws(CheckpointError) { try body() } catch { failure = failure ?? error }
        }
        // A checkpoint goes `_metadata` first. Until that is gone it is complete on disk, so the files it
        // references stay: the storage releases them only when told it is gone, and hands them back to remove.
        let retired = self.retired.withLock { $0 }
        for id in deletion.checkpoints {
            let folder = "\(self.root)/\(CheckpointStorage.checkpointFolder(id))"
            var removed = true
            do throws(CheckpointError) {
                if self.fileSystem.exists(folder + "/_metadata") { try self.fileSystem.remove(folder + "/_metadata") }
            } catch {
                failure = failure ?? error
                removed = false
            }
            if removed {
                attempt { () throws(CheckpointError) in
                    try? self.fileSystem.syncDirectory(folder)
                    try self.fileSystem.remove(folder)
                }
            }
            let released = retired?(id, removed) ?? []
            var paths: [String] = []
            for relative in released { attempt { () throws(CheckpointError) in paths.append(try self.resolve(relative)) } }
            attempt { () throws(CheckpointError) in try self.fileSystem.removeFiles(paths) }
        }
        for name in deletion.abortedFolders where !self.fileSystem.exists("\(self.root)/\(name)/_metadata") {
            attempt { () throws(CheckpointError) in try self.fileSystem.remove(try self.resolve(name)) }
        }
        // The first alone (a crash test stops after it), the rest in one batch (object storage: `DeleteObjects`).
        if let first = deletion.files.first {
            attempt { () throws(CheckpointError) in try self.fileSystem.remove(try self.resolve(first)) }
            if deletion.files.count > 1 { CrashPoint.hit(.midCleanup) }
        }
        var rest: [String] = []
        for relative in deletion.files.dropFirst() {
            attempt { () throws(CheckpointError) in rest.append(try self.resolve(relative)) }
        }
        attempt { () throws(CheckpointError) in try self.fileSystem.removeFiles(rest) }
        if let failure { throw failure }
    }

    private func resolve(_ relative: String) throws(CheckpointError) -> String {
        try CheckpointStorage.resolve(relative, root: self.root, fileSystem: self.fileSystem, checkpoint: nil, realRoot: self.root)
    }
}
