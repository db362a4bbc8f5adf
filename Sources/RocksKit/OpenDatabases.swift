import Synchronization

/// The process's open databases, held weakly, so that `RocksMemoryUsage.ofOpenDatabases` can sum over them. A
/// database is registered when it opens and removed, under the same lock, before its C handle is closed: a reader
/// holding the lock never sees a closed handle.
final class OpenDatabases: Sendable {
    static let shared = OpenDatabases()

    private struct Entry { weak var database: RocksDatabase? }
    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    func add(_ database: RocksDatabase) {
        self.entries.withLock { $0[ObjectIdentifier(database)] = Entry(database: database) }
    }

    /// Removes `database`; once this returns, no reader uses its handle.
    func remove(_ database: RocksDatabase) {
        _ = self.entries.withLock { $0.removeValue(forKey: ObjectIdentifier(database)) }
    }

    func memoryUsage() -> RocksMemoryUsage {
        self.entries.withLock { entries in
            var usage = RocksMemoryUsage.zero
            // A database in its deinit is no longer reachable through its entry; its remove() waits for the lock.
            for entry in entries.values { if let database = entry.database { usage += database.memoryUsage } }
            return usage
        }
    }
}
