import CRocksDB
import StateCore

/// A consistent read view of a database as it was when the snapshot was taken (a RocksDB snapshot): reads
/// through it see neither later writes nor later deletes, and compactions keep what it can see.
///
/// Release it with `RocksDatabase.release(_:)` when it is no longer needed (it pins old versions); the database
/// releases any snapshot still held when it closes. Use it only while its database is open.
public final class RocksSnapshot: @unchecked Sendable {
    let handle: OpaquePointer
    /// Read options with the snapshot set, for gets and iterators through it.
    let readOptions: OpaquePointer

    init(handle: OpaquePointer) {
        self.handle = handle
        self.readOptions = rocksdb_readoptions_create()!
        rocksdb_readoptions_set_snapshot(self.readOptions, handle)
    }

    deinit { rocksdb_readoptions_destroy(self.readOptions) }
}

extension RocksDatabase {
    /// Takes a snapshot of the database now.
    /// - Precondition: the database is open.
    public func snapshot() -> RocksSnapshot {
        precondition(!self.isClosed, "snapshot of a closed database")
        let snapshot = RocksSnapshot(handle: rocksdb_create_snapshot(self.handle)!)
        self.register(snapshot)
        return snapshot
    }

    /// Releases `snapshot` (idempotent; a no-op once the database has closed and released it).
    public func release(_ snapshot: RocksSnapshot) {
        guard self.unregister(snapshot) else { return }
        rocksdb_release_snapshot(self.handle, snapshot.handle)
    }

    /// Copies the value under `key` as `snapshot` sees it out, or returns `nil`.
    /// - Throws: `RocksError`.
    public func get(_ family: ColumnFamily, key: [UInt8], at snapshot: RocksSnapshot) throws(RocksError) -> [UInt8]? {
        let slice = PinnedValue(handle: try self.pinnedValue(family, key: key, readOptions: snapshot.readOptions))
        return slice.withReader { reader in reader.map { var r = $0; return r.readRemainingBytes() } }
    }
}
