import Synchronization

/// RocksDB backends of a failed attempt kept open in this process, by working directory, so the next attempt
/// can roll them back to the checkpoint it restores instead of rebuilding them (local rollback).
///
/// A parked backend is handed over whole: no thread uses it between `park` and `take`. `closeAll(under:)`
/// gives up what no attempt took (the job ended): each entry's `close` retires its database
/// (`RetiredDatabases`), which closes it in the background; `RetiredDatabases.waitAll(under:)` waits for that.
package final class ParkedBackends: Sendable {
    /// One parked backend.
    struct Entry: @unchecked Sendable {
        let backendID: String
        /// The `KeyedStateBackend<Key>` (typed by the backend that takes it).
        let state: AnyObject
        let tracker: RollbackTracker
        let close: () -> Void
    }

    /// The process's parked backends.
    package static let shared = ParkedBackends()

    private let entries = Mutex<[String: Entry]>([:])

    /// Parks `entry` under `workingDirectory`, closing whatever was parked there before.
    func park(_ entry: Entry, workingDirectory: String) {
        let previous = self.entries.withLock { $0.updateValue(entry, forKey: workingDirectory) }
        previous?.close()
    }

    /// Takes the backend parked under `workingDirectory`, if any.
    func take(workingDirectory: String) -> Entry? {
        self.entries.withLock { $0.removeValue(forKey: workingDirectory) }
    }

    /// Gives up every parked backend whose working directory starts with `prefix` (its `close`; for a RocksDB
    /// database that returns before the database is closed: see `RetiredDatabases.waitAll(under:)`).
    package func closeAll(under prefix: String) {
        let taken = self.entries.withLock { entries -> [Entry] in
            let keys = entries.keys.filter { $0.hasPrefix(prefix) }
            return keys.compactMap { entries.removeValue(forKey: $0) }
        }
        for entry in taken { entry.close() }
    }
}
