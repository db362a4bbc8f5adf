import RocksKit

/// Loading sorted table files straight into a RocksDB backend (changelog replay on restore), bypassing the memtable.
extension KeyedStateBackend {
    /// A writer for a table file of `column` at `path` (RocksDB only): entries in key order, then `ingest`.
    /// - Throws: `StateError` when the file cannot be created; `.invalidArgument` on the heap.
    package func tableWriter(column: Int, path: String) throws(StateError) -> RocksTableWriter {
        try self.rocksStore(for: "table files need").tableWriter(column: column, path: path)
    }

    /// Adds finished table files to `column` in one step, newer than everything it holds; the files are moved
    /// into the database. The writes bypass the change sink: they are not logged.
    /// - Throws: `StateError` when RocksDB refuses a file (nothing is added then); `.invalidArgument` on the heap.
    package func ingest(column: Int, files: [String]) throws(StateError) {
        try self.rocksStore(for: "table files need").ingest(column: column, files: files)
    }

    /// Pauses (`false`) or resumes (`true`) RocksDB's automatic compactions of every state, so a bulk load's
    /// level-0 files are not compacted while it is still adding them. No effect on the heap.
    /// - Throws: `StateError` when RocksDB refuses the change.
    package func setAutomaticCompactions(_ enabled: Bool) throws(StateError) {
        try self.core.checkOpen()
        try self.core.baseStore.engine.rocks?.setAutomaticCompactions(enabled)
    }

    /// The RocksDB store of an open backend, or `.invalidArgument` ("<what> the RocksDB engine") on the heap.
    func rocksStore(for what: String) throws(StateError) -> RocksStateStore {
        try self.core.checkOpen()
        guard let store = self.core.baseStore.engine.rocks else {
            throw StateError(code: .invalidArgument, message: "\(what) the RocksDB engine")
        }
        return store
    }
}
