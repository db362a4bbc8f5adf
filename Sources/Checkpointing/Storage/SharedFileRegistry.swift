/// Which checkpoint files may be deleted: for each file, the number of retained completed checkpoints that
/// reference it, plus the files that running backends still need for their next checkpoint ("live").
///
/// A file is deletable exactly when it is known (created here or referenced by a loaded checkpoint), no retained
/// checkpoint references it, no backend holds it live, and it is not pinned: a file is pinned from its creation
/// until the backend that wrote it has taken it into its live set (`setLive(…, settling:)`), so a file another
/// thread just wrote is never collected before its owner knows about it. A pure state machine: `CheckpointStorage` owns one
/// under its lock and performs the deletions it returns.
///
/// Invariants (`checkInvariants`, after every change in debug builds): 1. `references[path]` equals the number of
/// entries of `checkpoints` containing `path`, and is absent when zero. 2. Every referenced, live, held or pinned
/// path is in `known` until `takeDeletable` returns it. 3. Pin counts are positive. A seeded test
/// (`SharedFileRegistryTests` in `FaultTests.swift`) runs random operations against a reference model.
struct SharedFileRegistry: Sendable {
    private(set) var references: [String: Int] = [:]
    private var checkpoints: [Int64: Set<String>] = [:]
    private var live: [String: Set<String>] = [:]
    private(set) var known: Set<String> = []
    private var pinned: [String: Int] = [:]
    /// Per checkpoint not yet published or aborted, the files its acknowledged snapshots reference: held for the
    /// checkpoint itself, so a backend that closes (or releases its live set) before the publish cannot free them.
    private var held: [Int64: Set<String>] = [:]

    /// Records a file about to be written, pinned `count` times until settled.
    mutating func created(_ path: String, pins count: Int = 1) {
        defer { self.checkInvariants() }
        self.known.insert(path)
        if count > 0 { self.pinned[path, default: 0] += count }
    }

    /// Releases one pin of each path.
    mutating func settle(_ paths: [String]) {
        defer { self.checkInvariants() }
        for path in paths {
            let count = (self.pinned[path] ?? 1) - 1
            self.pinned[path] = count > 0 ? count : nil
        }
    }

    /// Counts a completed, retained checkpoint's references.
    mutating func retain(checkpoint id: Int64, paths: Set<String>) {
        defer { self.checkInvariants() }
        guard self.checkpoints[id] == nil else { return }
        self.checkpoints[id] = paths
        for path in paths {
            self.references[path, default: 0] += 1
            self.known.insert(path)
        }
    }

    /// Drops a subsumed checkpoint's references.
    mutating func release(checkpoint id: Int64) {
        defer { self.checkInvariants() }
        guard let paths = self.checkpoints.removeValue(forKey: id) else { return }
        for path in paths {
            let count = (self.references[path] ?? 1) - 1
            self.references[path] = count > 0 ? count : nil
        }
    }

    /// Replaces the set of files `owner` (a backend) still needs.
    mutating func setLive(owner: String, paths: Set<String>, settling: [String] = []) {
        defer { self.checkInvariants() }
        self.live[owner] = paths.isEmpty ? nil : paths
        self.known.formUnion(paths)
        self.settle(settling)
    }

    /// Holds `paths` for checkpoint `id` until it is published (`retain` takes them over) or given up.
    mutating func hold(checkpoint id: Int64, paths: Set<String>) {
        defer { self.checkInvariants() }
        self.held[id, default: []].formUnion(paths)
        self.known.formUnion(paths)
    }

    /// Drops checkpoint `id`'s hold (after it was retained or aborted).
    mutating func releaseHold(checkpoint id: Int64) {
        defer { self.checkInvariants() }
        self.held[id] = nil
    }

    /// Whether a retained checkpoint, a pending one, or a live backend needs `path`.
    func isNeeded(_ path: String) -> Bool {
        self.references[path] != nil || self.pinned[path] != nil || self.live.values.contains { $0.contains(path) }
            || self.held.values.contains { $0.contains(path) }
    }

    /// The retained checkpoints, oldest first.
    var retainedCheckpoints: [Int64] { self.checkpoints.keys.sorted() }

    /// The known files that nothing needs any more, forgotten as they are returned (the caller deletes them).
    mutating func takeDeletable() -> [String] {
        defer { self.checkInvariants() }
        var liveUnion = self.live.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        for paths in self.held.values { liveUnion.formUnion(paths) }
        let deletable = self.known.filter {
            self.references[$0] == nil && self.pinned[$0] == nil && !liveUnion.contains($0)
        }
        self.known.subtract(deletable)
        return deletable.sorted()
    }

    /// Stops the process (debug builds only) when an invariant does not hold: a bug here deletes files a
    /// checkpoint needs, or keeps garbage forever.
    func checkInvariants() {
        #if DEBUG
        var counts: [String: Int] = [:]
        for paths in self.checkpoints.values { for path in paths { counts[path, default: 0] += 1 } }
        precondition(counts == self.references, "SharedFileRegistry: reference counts differ from the retained checkpoints")
        precondition(self.pinned.values.allSatisfy { $0 > 0 }, "SharedFileRegistry: a pin count is not positive")
        let needed = Set(self.references.keys).union(self.pinned.keys)
            .union(self.live.values.joined()).union(self.held.values.joined())
        precondition(needed.isSubset(of: self.known), "SharedFileRegistry: needed files \(needed.subtracting(self.known).sorted()) are unknown")
        #endif
    }
}
