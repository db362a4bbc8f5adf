import Foundation
import RocksKit
import StateCore

/// Where a backend's RocksDB lives in its working directory, and the databases of failed attempts that are being
/// closed in the background.
///
/// Closing a failed attempt's database waits for the flush RocksDB may be running (a flush cannot be stopped):
/// 60–150 ms of every restart with the incremental strategy, on the restart's critical path. Instead, the failed
/// attempt's database is *retired*: a thread closes it without flushing and deletes its directory, while the next
/// attempt opens its database in the other of two directories (`db`, `db-1`). RocksDB locks a database by path
/// within a process, so the same directory cannot be reopened before the close has finished.
///
/// A restore likewise sets the old database directory aside (`setAside`) and deletes it in the background once
/// the restore is done (`deleteSetAside`).
///
/// The close of a retired database skips the flush with `avoid_flush_during_shutdown` (`RocksDatabase.discard()`).
/// Every restore sets aside (a rescaled one too, and a fresh start), as `db.aside-<random>`, and the deletion also
/// takes any set-aside directory a crash left: unlinking a million-key database's files took 30–140 ms of the
/// restore's fetch phase.
///
/// `waitAll(under:)` waits for the retirements and deletions under a working directory (a job's end: no thread
/// touches its files afterwards). `JobExecution` calls it for its working directory when the job ends, and
/// `CheckpointedBackend.close()` for its own.
package final class RetiredDatabases: Sendable {
    /// The process's retiring databases.
    package static let shared = RetiredDatabases()

    /// Directory names a backend's database alternates between.
    static let names = ["db", "db-1"]

    /// Directories whose database is being closed and deleted.
    private let retiring = Monitor<Set<String>>([], slice: Limits.idleWaitSlice)

    /// The database directory for a backend opening in `workingDirectory`: `db`, unless a failed attempt's
    /// database is still retiring there, then `db-1` (waits when both are). Deletes the other directory when
    /// nothing retires there (what a crash in the middle of a retirement left).
    package func directory(in workingDirectory: String, fileSystem: any CheckpointFileSystem) -> String {
        let candidates = Self.names.map { "\(workingDirectory)/\($0)" }
        let (chosen, stale) = self.retiring.waiting { retiring -> Monitor<Set<String>>.Step<(String, [String])> in
            guard let chosen = candidates.first(where: { !retiring.contains($0) }) else { return .wait(seconds: nil) }
            return .done((chosen, candidates.filter { $0 != chosen && !retiring.contains($0) }), signal: false)
        }
        for directory in stale { try? fileSystem.remove(directory) }
        return chosen
    }

    /// Closes a failed attempt's database with `close` on a thread of its own, then deletes `directory`.
    /// `close` must be the last use of the database: nothing else may touch it afterwards.
    package func retire(directory: String, fileSystem: any CheckpointFileSystem, close: @escaping () -> Void) {
        self.retiring.withLock(signalling: false) { _ = $0.insert(directory) }
        let work = Handover(close: close)
        self.inBackground("weir-retire", releasing: [directory]) {
            work.close()
            // The database's block cache and memtables were freed just now, while the next attempt runs.
            ProcessHeap.releaseFreedPages()
            try? fileSystem.remove(directory)
        }
    }

    /// What a set-aside directory's name has after the database directory's own.
    static let asideMarker = ".aside-"

    /// Moves the database directory `directory` (no database open in it) out of the way under a name of its own,
    /// so that a restore can start in its place at once. Deleting an old database's files takes 40–140 ms at a
    /// million keys (the journal frees their blocks): `deleteSetAside(in:)` does that after the restore.
    /// - Throws: `CheckpointError` when the rename fails.
    package func setAside(_ directory: String, fileSystem: any CheckpointFileSystem) throws(CheckpointError) {
        guard fileSystem.exists(directory) else { return }
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        try fileSystem.rename(directory, to: directory + Self.asideMarker + suffix)
    }

    /// Deletes on a thread of its own every directory set aside in `workingDirectory`: this attempt's, and any a
    /// crash left behind. `waitAll(under:)` waits for it too.
    package func deleteSetAside(in workingDirectory: String, fileSystem: any CheckpointFileSystem) {
        let names = ((try? fileSystem.list(workingDirectory)) ?? []).filter { $0.contains(Self.asideMarker) }
        guard !names.isEmpty else { return }
        let aside = self.retiring.withLock(signalling: false) { retiring in
            let aside = Set(names.map { "\(workingDirectory)/\($0)" }).subtracting(retiring)
            retiring.formUnion(aside)
            return aside
        }
        guard !aside.isEmpty else { return }
        self.inBackground("weir-delete", releasing: aside) {
            for directory in aside { try? fileSystem.remove(directory) }
        }
    }

    /// Runs `work` on a thread of its own, then takes `directories` out of the retiring ones and wakes waiters.
    private func inBackground(_ name: String, releasing directories: Set<String>, _ work: @escaping @Sendable () -> Void) {
        let thread = Thread {
            work()
            self.retiring.withLock { $0.subtract(directories) }
        }
        thread.name = name
        thread.start()
    }

    /// Waits until no database under `prefix` is retiring and no set-aside directory there is being deleted.
    package func waitAll(under prefix: String) {
        self.retiring.waiting { retiring in
            retiring.contains(where: { $0.hasPrefix(prefix) }) ? .wait(seconds: nil) : .done((), signal: false)
        }
    }

    /// A close handed to the retiring thread: the caller gives up the database with it.
    private struct Handover: @unchecked Sendable {
        let close: () -> Void
    }
}
