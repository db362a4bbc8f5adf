#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ObjectStore
import StateCore
import Synchronization

/// A job's checkpoint root on a file system: `chk-<id>/_metadata` per completed checkpoint (plus files only that
/// checkpoint owns), `shared/` for files several checkpoints reference (materialized SST/blob files, changelog
/// segments), and a `_lock` file held while a job writes here.
///
/// Publishing is atomic (staging name, fsync, rename, fsync directory; on object storage a conditional create): a
/// folder without a valid `_metadata` is not a checkpoint. The root may be `s3://bucket/prefix` (see
/// `ObjectStoreFileSystem`). The newest `retained` completed checkpoints are kept; a new one subsumes older ones, and a
/// shared file is deleted exactly when no retained checkpoint references it and no running backend needs it.
/// Opening the storage collects what a crash left: aborted checkpoint folders and unreferenced shared files.
///
/// **One owner for each step of a file's life.** Every file under a root is created through this storage
/// (`newSharedFile`; `newCheckpointFile` for a full snapshot or a task's channel state), so its
/// `SharedFileRegistry` knows it from the start: references from retained checkpoints, each backend's live set
/// (the files its next checkpoint will reference), pins (a file just written, until its backend takes it over)
/// and holds (the files of a checkpoint not yet published or aborted). A file is deleted when none of them needs
/// it. Every removal under a root (subsumed checkpoints, aborts, failed uploads through `discard`, startup
/// recovery, `weir gc`, a requested clear) is a `Deletion` this storage decides and `CheckpointDeleter` carries
/// out, `_metadata` first: no other code removes anything under a root.
///
/// A publish checks that each referenced path stays inside the root only for paths no earlier publish checked,
/// and writes the backends' changelog section lists itself (`MetadataJSON`, encoding only the sections added
/// since: `SectionListCache`). On open it takes `flock(_lock)` and removes folders without `_metadata`, subsumed
/// leftovers and unreferenced shared files; a folder whose `_metadata` is damaged is kept and reported, and then
/// nothing shared is collected.
///
/// Thread-safe: backends on several threads upload and publish through one storage.
public final class CheckpointStorage: Sendable {
    /// The root directory (absolute).
    public let root: String
    /// The file system under the root.
    public let fileSystem: any CheckpointFileSystem
    /// How many completed checkpoints are kept (at least 1).
    public let retained: Int
    /// What opening the storage found and cleaned up.
    public let startup: StartupReport

    private struct State: Sendable {
        var registry = SharedFileRegistry()
        var completed: [Int64: CheckpointMetadata] = [:]
        var lockDescriptor: Int32 = -1
        /// Referenced paths an earlier publish resolved inside the root: a checkpoint re-checks only its new files
        /// (checking all took ~25 µs per file, and a changelog checkpoint references a file per upload since the
        /// last materialization: 170 files, 4 ms, at the end of a 30 s interval). Forgotten when deleted.
        var verified: Set<String> = []
        /// The highest checkpoint id seen under the root: found at startup (damaged folders included) or published.
        var highestID: Int64 = 0
        /// Checkpoint folders whose `_metadata` did not verify at startup: their ids are never published again.
        var damagedIDs: Set<Int64> = []
        /// Checkpoints whose publish failed with an unknown outcome and could not be withdrawn: their `_metadata`
        /// may be complete, so their files stay held (and their folders kept) until the next start decides.
        var uncertain: Set<Int64> = []
        /// Subsumed checkpoints whose `_metadata` removal is queued (`true`) or failed (`false`, retried at the
        /// next publish). Their files stay referenced until it is gone: a complete checkpoint on disk keeps its files.
        var retiring: [Int64: Bool] = [:]
    }

    private let state: Mutex<State>
    private let uploaderSlot = Mutex<ChangelogUploader?>(nil)
    /// The only remover of files under the root: it carries out what this storage decides.
    private let deleter: CheckpointDeleter
    /// The section lists the last published metadata encoded (a publish encodes only new sections).
    private let sectionLists = SectionListCache()

    /// What `init` found in the root.
    public struct StartupReport: Sendable {
        /// Completed checkpoints found, oldest first. All are kept, even beyond `retained`: the next published
        /// checkpoint subsumes the oldest (opening a root, as a job restoring from it does, never deletes one).
        public var completed: [Int64] = []
        /// Checkpoint folders without `_metadata` (aborted or crashed mid-publish) that were removed.
        public var removedAborted: [String] = []
        /// Files no completed checkpoint references (under `shared/`, or beside a `_metadata`), removed.
        public var removedOrphans: [String] = []
        /// With `StartupCleanup.none`: what the cleanup would have removed (nothing was).
        public var leftovers = CollectionPlan()
        /// Checkpoint folders whose `_metadata` does not verify: kept untouched, with the reason. While any exist,
        /// no file is collected (they might reference it).
        public var damaged: [(folder: String, error: CheckpointError)] = []
    }

    /// What opening a root removes.
    public enum StartupCleanup: Sendable {
        /// Aborted checkpoint folders and orphaned files (unless a checkpoint is damaged). Jobs and backends.
        case collect
        /// Nothing: `startup.leftovers` lists what `.collect` would remove (`weir gc` plans with it).
        case none
    }

    /// What a collection removes: checkpoints (oldest first), folders without `_metadata`, and files (relative).
    public struct CollectionPlan: Sendable, Hashable {
        /// Completed checkpoints to remove (beyond the number kept).
        public var checkpoints: [Int64] = []
        /// Checkpoint folders without `_metadata`.
        public var aborted: [String] = []
        /// Files no remaining checkpoint references.
        public var files: [String] = []
        /// Whether the plan removes nothing.
        public var isEmpty: Bool { self.checkpoints.isEmpty && self.aborted.isEmpty && self.files.isEmpty }
        /// An empty plan.
        public init() {}
    }

    /// Refuses a root that is itself one checkpoint's folder or a savepoint (it holds `_metadata`): opening it
    /// would write a lock, a `shared/` folder and new checkpoints into it.
    private static func refuseCheckpointFolder(_ root: String, fileSystem: any CheckpointFileSystem) throws(CheckpointError) {
        let path = root + "/_metadata"
        let bytes: [UInt8]
        do { bytes = try fileSystem.read(path) } catch {
            if error.code == .missing { return }
            throw error    // the root cannot be read (a server down, no permission): the same error opening it would give
        }
        let trimmed = root.hasSuffix("/") ? String(root.dropLast()) : root
        let parent = trimmed.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let kind = (try? CheckpointMetadata.decode(bytes, path: path))?.kind
        if kind == .savepoint {
            throw CheckpointError(
                code: .invalidArgument,
                message: "\(root) is a savepoint, not a checkpoint root: start a job from it with "
                    + "`restore: .savepoint(\"\(root)\")` (weir run --from-savepoint \(root)) and give the job a root of its "
                    + "own; the savepoint is left as it is.",
                path: path)
        }
        throw CheckpointError(
            code: .invalidArgument,
            message: "\(root) is one checkpoint's folder (it holds _metadata), not a checkpoint root: give the root "
                + "that holds it\(parent.isEmpty ? "" : ", \(parent)") (`weir checkpoints \(parent.isEmpty ? "ROOT" : parent)` lists its "
                + "checkpoints); nothing was written.",
            path: path)
    }

    /// Opens (creating) a checkpoint root, takes its lock, and collects what a crash left behind.
    /// - Parameters:
    ///   - root: The root directory; created with its parents.
    ///   - retained: How many completed checkpoints to keep. Default 1.
    ///   - fileSystem: The file system. Default: the local one, or for an `s3://bucket/prefix` root the object
    ///     store configured by the environment (`ObjectStoreFileSystem.forPath`).
    ///   - cleanup: What opening removes. Default: what a crash left (`.collect`).
    /// - Throws: `CheckpointError` `.locked` when another process writes to this root, `.io`/`.noSpace`.
    public init(
        root: String, retained: Int = 1, fileSystem: (any CheckpointFileSystem)? = nil,
        cleanup: StartupCleanup = .collect
    ) throws(CheckpointError) {
        guard retained >= 1 else {
            throw CheckpointError(code: .invalidArgument, message: "retained checkpoints must be at least 1, not \(retained)")
        }
        let fileSystem = try Self.fileSystem(fileSystem, for: root)
        try Self.refuseCheckpointFolder(root, fileSystem: fileSystem)
        try fileSystem.createDirectory(root + "/shared")
        self.root = fileSystem.realPath(root) ?? root
        self.fileSystem = fileSystem
        self.retained = retained
        // Object storage has no locks: there, the conditional create of `_metadata` keeps two writers from
        // publishing one checkpoint id (the second gets `.duplicate`).
        let lock = S3Location.isObjectStoreURL(self.root) ? -1 : try Self.takeLock(self.root + "/_lock")
        let deleter = CheckpointDeleter(root: self.root, fileSystem: fileSystem)
        self.deleter = deleter
        var state = State()
        state.lockDescriptor = lock
        var report = StartupReport()
        do {
            try Self.recover(root: self.root, fileSystem: fileSystem, cleanup: cleanup, state: &state, report: &report)
        } catch {
            if lock >= 0 { Glibc.close(lock) }
            deleter.stop()
            throw error
        }
        CheckpointingLog.logger.debug(
            "opened checkpoint root \(self.root)",
            metadata: [
                "completed": "\(report.completed)", "removedAborted": "\(report.removedAborted.count)",
                "removedOrphans": "\(report.removedOrphans.count)", "damaged": "\(report.damaged.map(\.folder))",
            ])
        if cleanup == .collect {
            // What is left is removed on the next start if this fails.
            try? deleter.perform(Deletion(abortedFolders: report.removedAborted, files: report.removedOrphans))
        }
        self.startup = report
        state.damagedIDs = Set(report.damaged.compactMap { Int64($0.folder.dropFirst(4)) })
        state.highestID = max(report.completed.max() ?? 0, state.damagedIDs.max() ?? 0)
        self.state = Mutex(state)
        deleter.onRetired { [weak self] id, removed in self?.retired(id, removed: removed) ?? [] }
    }

    deinit { self.close() }

    /// A subsumed checkpoint's `_metadata` is gone (its files are released: returns those nothing needs now), or
    /// could not be removed (it stays complete on disk with its files; the next publish tries again).
    private func retired(_ id: Int64, removed: Bool) -> [String] {
        self.state.withLock { state -> [String] in
            guard state.retiring[id] != nil else { return [] }
            guard removed else {
                state.retiring[id] = false
                return []
            }
            state.retiring[id] = nil
            state.registry.release(checkpoint: id)
            return Self.takeDeletable(&state)
        }
    }

    /// `given`, or the default for `root` (local, or the environment's object store for `s3://`).
    package static func fileSystem(_ given: (any CheckpointFileSystem)?, for root: String) throws(CheckpointError)
        -> any CheckpointFileSystem
    {
        if let given { return given }
        return try ObjectStoreFileSystem.forPath(root)
    }

    /// The file system that reaches `path`: this root's, unless `path` is on object storage and this root is
    /// local (a savepoint in `s3://` beside a local root), then the environment's object store (which also
    /// reaches local paths).
    package func fileSystem(reaching path: String) throws(CheckpointError) -> any CheckpointFileSystem {
        guard S3Location.isObjectStoreURL(path), !(self.fileSystem is ObjectStoreFileSystem) else { return self.fileSystem }
        return try ObjectStoreFileSystem.forPath(path)
    }

    /// Finishes queued changelog writes and releases the root's lock. Idempotent; the storage is unusable after.
    public func close() {
        self.uploaderSlot.withLock { $0?.stop() }
        self.deleter.stop()
        self.state.withLock {
            if $0.lockDescriptor >= 0 { Glibc.close($0.lockDescriptor) }
            $0.lockDescriptor = -1
        }
    }

    /// The process's changelog uploader for this root (one, so that backends share segment files).
    var changelogUploader: ChangelogUploader {
        self.uploaderSlot.withLock { slot in
            if let uploader = slot { return uploader }
            let uploader = ChangelogUploader(storage: self)
            slot = uploader
            return uploader
        }
    }

    private static func takeLock(_ path: String) throws(CheckpointError) -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LocalFileSystem.failure("open lock file", path) }
        // A lock just released can look held for a moment: a process this one forks shares the lock's open file
        // until it execs (the descriptor is close-on-exec). A job's real holder does not go away in 300 ms.
        var locked = flock(fd, LOCK_EX | LOCK_NB) == 0
        for _ in 0..<30 where !locked {
            usleep(10_000)
            locked = flock(fd, LOCK_EX | LOCK_NB) == 0
        }
        if !locked {
            Glibc.close(fd)
            throw CheckpointError(
                code: .locked,
                message: "the checkpoint root \(path.dropLast(6)) is in use by another process (it holds \(path)). "
                    + "Stop that job, or give this one its own root.", path: path)
        }
        return fd
    }

    /// The folder of checkpoint `id`.
    public func checkpointDirectory(_ id: Int64) -> String { "\(self.root)/chk-\(id)" }

    /// The relative path of checkpoint `id`'s folder.
    package static func checkpointFolder(_ id: Int64) -> String { "chk-\(id)" }

    /// The IDs of the retained completed checkpoints, oldest first.
    public var completedCheckpoints: [Int64] { self.state.withLock { $0.completed.keys.sorted() } }

    /// The id for the next checkpoint: one above every id this root has seen (completed, subsumed at startup,
    /// damaged, or published since it was opened). Checkpoint ids only grow.
    public var nextCheckpointID: Int64 { self.state.withLock { $0.highestID + 1 } }

    /// The newest completed checkpoint's metadata.
    public var latest: CheckpointMetadata? {
        self.state.withLock { state in state.completed.keys.max().flatMap { state.completed[$0] } }
    }

    /// The metadata of a retained completed checkpoint.
    /// - Throws: `.missing` naming the retained ones.
    public func metadata(_ id: Int64) throws(CheckpointError) -> CheckpointMetadata {
        if let found = self.state.withLock({ $0.completed[id] }) { return found }
        throw CheckpointError(
            code: .missing,
            message: "checkpoint \(id) is not a retained completed checkpoint of \(self.root); retained: "
                + "\(self.completedCheckpoints.map(String.init).joined(separator: ", "))", checkpointID: id)
    }

    /// A new, unique path under `shared/` ending in `suffix` (relative and absolute), recorded as created and
    /// pinned `pins` times (see `created`): every shared file is made here, so the registry knows it from the start.
    func newSharedFile(suffix: String, pins: Int = 1) -> (relative: String, absolute: String) {
        let relative = "shared/\(Self.uniqueToken())-\(suffix)"
        self.created(relative, pins: pins)
        return (relative, "\(self.root)/\(relative)")
    }

    private static func uniqueToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(generator.next() as UInt64, radix: 16)
    }

    /// Records a file about to be written under the root, pinned `pins` times: it is not collected before
    /// `settle` or `setLive(…, settling:)` releases the pins, and is collected once nothing needs it after that.
    private func created(_ relative: String, pins: Int = 1) {
        self.state.withLock { $0.registry.created(relative, pins: pins) }
    }

    /// Releases pins taken by `created` (a write that failed, a file the owner will not use).
    func settle(_ relatives: [String]) { self.state.withLock { $0.registry.settle(relatives) } }

    /// Gives up files whose write failed: releases the pins `created` took, and the files go once nothing else
    /// needs them (the registry decides, as for every other deletion).
    func discard(_ relatives: [String]) {
        self.deleter.submit(Deletion(files: self.state.withLock { state in
            state.registry.settle(relatives)
            return Self.takeDeletable(&state)
        }))
    }

    /// A new file in checkpoint `id`'s folder (created) that only that checkpoint references: a full snapshot,
    /// a task's channel state. Held for the checkpoint until it is published (then referenced by it) or aborted
    /// (then removed with the folder).
    package func newCheckpointFile(_ id: Int64, name: String) throws(CheckpointError) -> (relative: String, absolute: String) {
        let relative = "\(Self.checkpointFolder(id))/\(name)"
        try self.fileSystem.createDirectory(self.checkpointDirectory(id))
        self.state.withLock { $0.registry.hold(checkpoint: id, paths: [relative]) }
        return (relative, "\(self.root)/\(relative)")
    }

    /// Replaces the set of files the backend `owner` still needs (its materialization and changelog since), and
    /// releases the pins of the files it takes over — in one step, so no other thread can collect them between.
    func setLive(owner: String, paths: Set<String>, settling: [String] = []) {
        self.state.withLock { $0.registry.setLive(owner: owner, paths: paths, settling: settling) }
    }

    /// Holds the files a snapshot for checkpoint `id` references until that checkpoint is published or aborted:
    /// from the moment the snapshot's handle is final, whatever its backend does next (close included).
    func hold(_ id: Int64, paths: Set<String>) {
        self.state.withLock { $0.registry.hold(checkpoint: id, paths: paths) }
    }

    /// Publishes a checkpoint: writes its `_metadata` atomically, then subsumes older checkpoints beyond
    /// `retained` and deletes the files nothing needs any more.
    /// - Throws: `CheckpointError` if the metadata could not be made durable (the checkpoint is then not complete
    ///   and the previous one is intact). Cleanup failures are not thrown: the files are retried at the next start.
    /// - Throws: `.duplicate` (nothing written) for an id that is already complete, whose folder holds damaged
    ///   metadata, or that is older than every retained checkpoint (it would be subsumed at once): each would
    ///   destroy a checkpoint. Use `nextCheckpointID`.
    public func publish(_ metadata: CheckpointMetadata) throws(CheckpointError) {
        let id = metadata.checkpointID
        try self.state.withLock { state throws(CheckpointError) in
            let refusal: String? =
                if state.completed[id] != nil { "is already a completed checkpoint" }
                else if state.damagedIDs.contains(id) { "has a folder with damaged metadata (see `weir verify`)" }
                else if state.completed.count >= self.retained, let oldest = state.completed.keys.min(), id < oldest {
                    "is older than every retained checkpoint (oldest: \(oldest))"
                } else { nil }
            if let refusal {
                throw CheckpointError(
                    code: .duplicate,
                    message: "refusing to publish checkpoint \(id) under \(self.root): it \(refusal); publishing it "
                        + "again would destroy that checkpoint's files. Checkpoint ids only grow: use the storage's "
                        + "nextCheckpointID (\(state.highestID + 1)).", checkpointID: id)
            }
        }
        let paths = metadata.referencedPaths
        let unverified = self.state.withLock { paths.subtracting($0.verified) }
        for path in unverified { _ = try self.resolve(path, checkpoint: id) }
        let folder = self.checkpointDirectory(id)
        do throws(CheckpointError) {
            try self.fileSystem.createDirectory(folder)
            // Files the checkpoint wrote into its folder (full snapshots, channel state) must be durable entries
            // before `_metadata` is: a rename into the folder may otherwise reach the disk before their creation.
            try self.fileSystem.syncDirectory(folder)
            try self.fileSystem.publish(metadata.encoded(cache: self.sectionLists), to: folder + "/_metadata")
        } catch {
            // The outcome is unknown: a rename may have taken effect before the directory fsync failed, an object
            // may have been created before the connection reset. Withdraw the checkpoint, `_metadata` first, before
            // anything lets go of its files; if that fails too, it may be complete, and `abort` keeps its files.
            do throws(CheckpointError) { try self.deleter.perform(Deletion(checkpoints: [id])) } catch {
                self.state.withLock { _ = $0.uncertain.insert(id) }
                let reason = error.message
                CheckpointingLog.logger.debug(
                    "checkpoint \(id): publish failed, its folder could not be removed (\(reason)); files kept until the next start")
            }
            throw error.inCheckpoint(id)
        }
        let (subsumed, deletable) = self.state.withLock { state -> ([Int64], [String]) in
            state.completed[id] = metadata
            state.highestID = max(state.highestID, id)
            state.verified.formUnion(unverified)
            state.registry.retain(checkpoint: id, paths: paths)
            state.registry.releaseHold(checkpoint: id)
            var subsumed: [Int64] = []
            while state.completed.count > self.retained, let oldest = state.completed.keys.min() {
                state.completed[oldest] = nil
                state.retiring[oldest] = true
                subsumed.append(oldest)
            }
            for (old, queued) in state.retiring where !queued {
                state.retiring[old] = true
                subsumed.append(old)
            }
            return (subsumed.sorted(), Self.takeDeletable(&state))
        }
        CheckpointingLog.logger.debug(
            "published checkpoint \(id) under \(self.root)",
            metadata: ["checkpoint": "\(id)", "files": "\(paths.count)", "subsumed": "\(subsumed)"])
        self.deleter.submit(Deletion(checkpoints: subsumed, files: deletable))
    }

    /// Deletes files nothing needs any more (after a backend's materialization moved on).
    func collect() {
        self.deleter.submit(Deletion(files: self.state.withLock { Self.takeDeletable(&$0) }))
    }

    /// The files nothing needs any more, forgotten by the registry and the verified paths.
    private static func takeDeletable(_ state: inout State) -> [String] {
        let deletable = state.registry.takeDeletable()
        if !deletable.isEmpty && !state.verified.isEmpty { state.verified.subtract(deletable) }
        return deletable
    }

    /// Deletes every checkpoint under the root, completed or damaged, and every shared file, while holding the
    /// root's lock (a fresh start that the user asked to discard what is there). Ids keep growing from
    /// `nextCheckpointID`. Call it before any backend opens on the storage.
    /// - Throws: `.io` naming a file that could not be removed (what was removed stays removed).
    public func clear() throws(CheckpointError) {
        let ids = self.state.withLock { state -> [Int64] in
            let ids = Array(state.completed.keys) + Array(state.damagedIDs) + Array(state.retiring.keys)
            for id in Array(state.completed.keys) + Array(state.retiring.keys) { state.registry.release(checkpoint: id) }
            state.completed = [:]
            state.retiring = [:]
            state.damagedIDs = []
            state.verified = []
            _ = state.registry.takeDeletable()
            return ids
        }
        let shared = try self.fileSystem.list(self.root + "/shared").map { "shared/\($0)" }
        try self.deleter.perform(Deletion(checkpoints: ids.sorted(), files: shared))
    }

    /// Removes the folder of a checkpoint that will not complete (files written only for it go too).
    public func abort(_ id: Int64) {
        // Never a completed checkpoint, nor a damaged one's folder (a refused publish of its id ends here).
        let deletion = self.state.withLock { state -> Deletion? in
            guard state.completed[id] == nil, !state.uncertain.contains(id) else { return nil }
            state.registry.releaseHold(checkpoint: id)
            guard !state.damagedIDs.contains(id) else { return nil }
            return Deletion(abortedFolders: [Self.checkpointFolder(id)], files: Self.takeDeletable(&state))
        }
        guard let deletion else { return }
        CheckpointingLog.logger.debug("aborted checkpoint \(id) under \(self.root)", metadata: ["checkpoint": "\(id)"])
        try? self.deleter.perform(deletion)    // what fails is collected at the next start
    }

    /// Blocks until every deletion queued so far is done (tests, tools).
    public func waitForCleanup() { self.deleter.drain() }

    /// The absolute path of a path recorded in metadata, refusing any that leaves the root.
    /// - Throws: `.unsafePath` for absolute paths, `..` or empty components, or a symlink out of the root.
    public func resolve(_ relative: String, checkpoint: Int64?) throws(CheckpointError) -> String {
        try Self.resolve(relative, root: self.root, fileSystem: self.fileSystem, checkpoint: checkpoint, realRoot: self.root)
    }

    /// The absolute path of `relative` under `root`, refusing any path that leaves it.
    /// - Parameter realRoot: `root` with symlinks resolved, when the caller knows it (else resolved here).
    package static func resolve(
        _ relative: String, root: String, fileSystem: any CheckpointFileSystem, checkpoint: Int64?,
        realRoot: String? = nil
    ) throws(CheckpointError) -> String {
        let components = relative.split(separator: "/", omittingEmptySubsequences: false)
        let bad = relative.hasPrefix("/") || relative.isEmpty
            || components.contains { $0.isEmpty || $0 == "." || $0 == ".." || $0.contains("\0") }
        let absolute = "\(root)/\(relative)"
        var escapes = bad
        if !bad {
            // The deepest part of the path that exists must resolve (symlinks followed) inside the root.
            var probe = absolute
            while fileSystem.realPath(probe) == nil, let slash = probe.lastIndex(of: "/"), probe.count > root.count {
                probe = String(probe[..<slash])
            }
            let realRoot = realRoot ?? fileSystem.realPath(root) ?? root
            if let real = fileSystem.realPath(probe) {
                escapes = real != realRoot && !real.hasPrefix(realRoot + "/")
            }
        }
        guard !escapes else {
            throw CheckpointError(
                code: .unsafePath,
                message: "\(checkpoint.map { "checkpoint \($0) " } ?? "")references '\(relative)', which leaves the "
                    + "checkpoint root \(root) (absolute, '..', or a symlink out); refusing to read or delete it. "
                    + "The metadata is damaged or was edited: restore an older checkpoint.",
                path: relative, checkpointID: checkpoint)
        }
        return absolute
    }

    /// Reads and verifies every `chk-*` folder; lists aborted folders and files no completed checkpoint references
    /// (as `leftovers`, or with `.collect` as removed: `init` removes them). Completed checkpoints are all kept, whatever `retained` says.
    private static func recover(
        root: String, fileSystem: any CheckpointFileSystem, cleanup: StartupCleanup, state: inout State,
        report: inout StartupReport
    ) throws(CheckpointError) {
        var completed: [Int64: CheckpointMetadata] = [:]
        var plan = CollectionPlan()
        for name in try fileSystem.list(root) where name.hasPrefix("chk-") {
            guard let id = Int64(name.dropFirst(4)) else { continue }
            let path = "\(root)/\(name)/_metadata"
            // An empty folder is aborted too: on object storage a folder whose removal failed half-way can stay
            // listed with nothing in it (SeaweedFS keeps the directory), and it is collected like any other.
            guard fileSystem.exists(path) else {
                plan.aborted.append(name)
                continue
            }
            do throws(CheckpointError) {
                let metadata = try CheckpointMetadata.decode(try fileSystem.read(path), path: path)
                guard metadata.checkpointID == id else {
                    throw CheckpointError(
                        code: .corrupt,
                        message: "\(path) describes checkpoint \(metadata.checkpointID), not \(id)", path: path)
                }
                completed[id] = metadata
            } catch {
                report.damaged.append((name, error.inCheckpoint(id)))
            }
        }
        for (id, metadata) in completed { state.registry.retain(checkpoint: id, paths: metadata.referencedPaths) }
        state.completed = completed
        report.completed = completed.keys.sorted()
        plan.aborted.sort()
        if report.damaged.isEmpty {
            for name in try fileSystem.list(root + "/shared") where !state.registry.isNeeded("shared/\(name)") {
                plan.files.append("shared/\(name)")
            }
            for id in report.completed {
                let folder = Self.checkpointFolder(id)
                for name in try fileSystem.list("\(root)/\(folder)") where name != "_metadata" {
                    if !state.registry.isNeeded("\(folder)/\(name)") { plan.files.append("\(folder)/\(name)") }
                }
            }
        }
        guard cleanup == .collect else {
            report.leftovers = plan
            return
        }
        // `init` has the deleter remove them.
        report.removedAborted = plan.aborted
        report.removedOrphans = plan.files
    }

    /// What a collection keeping the newest `keep` completed checkpoints (nil: all) removes: the older
    /// checkpoints, the files only they reference, and `startup.leftovers`. Pure: `collect(_:)` does it. Nothing
    /// while a checkpoint is damaged (the plan is empty).
    public func collectionPlan(keepingNewest keep: Int?) -> CollectionPlan {
        guard self.startup.damaged.isEmpty else { return CollectionPlan() }
        var plan = self.startup.leftovers
        self.state.withLock { state in
            var registry = state.registry
            let ordered = state.completed.keys.sorted()
            plan.checkpoints = keep.map { Array(ordered.dropLast(max($0, 0))) } ?? []
            for id in plan.checkpoints { registry.release(checkpoint: id) }
            plan.files += registry.takeDeletable().filter { !plan.files.contains($0) }
        }
        plan.files.sort()
        return plan
    }

    /// Removes what `plan` names (from `collectionPlan`, on this storage): checkpoints `_metadata` first, then
    /// aborted folders and files, each checked again against what the remaining checkpoints need.
    /// - Throws: `.io` naming what could not be removed (what was removed stays removed; run it again).
    public func collect(_ plan: CollectionPlan) throws(CheckpointError) {
        guard self.startup.damaged.isEmpty else { return }
        // The checkpoints' files are released once their `_metadata` is gone (`retired`), and removed then.
        let deletable = self.state.withLock { state -> Set<String> in
            for id in plan.checkpoints where state.completed[id] != nil {
                state.completed[id] = nil
                state.retiring[id] = true
            }
            return Set(Self.takeDeletable(&state))
        }
        let needed = self.state.withLock { state in plan.files.filter { state.registry.isNeeded($0) } }
        let files = plan.files.filter { relative in
            !needed.contains(relative) && (deletable.contains(relative) || self.startup.leftovers.files.contains(relative))
        }
        try self.deleter.perform(Deletion(checkpoints: plan.checkpoints, abortedFolders: plan.aborted, files: files))
    }
}
