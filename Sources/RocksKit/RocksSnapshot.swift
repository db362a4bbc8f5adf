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
}

extension RocksDatabase {
    /// Copies out the values of `keys` (`nil` where there is none), now or as `snapshot` saw them, with RocksDB's
    /// batched MultiGet: lookups of many keys share index, filter and block reads.
    /// - Parameters:
    ///   - keys: The keys, in RocksDB's (byte-wise) order.
    ///   - snapshot: Read as this snapshot sees the database, or `nil` for now.
    /// - Throws: `RocksError` for the first key whose lookup failed.
    public func multiGet(_ family: ColumnFamily, sortedKeys keys: [[UInt8]], at snapshot: RocksSnapshot? = nil)
        throws(RocksError) -> [[UInt8]?]
    {
        guard !keys.isEmpty else { return [] }
        var joined: [UInt8] = []
        joined.reserveCapacity(keys.reduce(0) { $0 + $1.count })
        var offsets: [Int] = []
        offsets.reserveCapacity(keys.count)
        for key in keys {
            offsets.append(joined.count)
            joined.append(contentsOf: key)
        }
        var sizes = keys.map(\.count)
        var slices = [OpaquePointer?](repeating: nil, count: keys.count)
        var errors = [UnsafeMutablePointer<CChar>?](repeating: nil, count: keys.count)
        joined.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!).assumingMemoryBound(to: CChar.self)
            var pointers: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
            rocksdb_batched_multi_get_cf(
                self.handle, snapshot?.readOptions ?? self.readOptions, family.handle, keys.count, &pointers, &sizes, &slices, &errors, true)
        }
        defer { for slice in slices { if let slice { rocksdb_pinnableslice_destroy(slice) } } }
        if let index = errors.firstIndex(where: { $0 != nil }) {
            let status = String(cString: errors[index]!)
            for error in errors { if let error { rocksdb_free(error) } }
            throw RocksError.classify(status: status, operation: "multi-get from '\(family.name)'", path: self.path)
        }
        return slices.map { slice in
            guard let slice else { return nil }
            var length = 0
            guard let pointer = rocksdb_pinnableslice_value(slice, &length) else { return nil }
            return Array(UnsafeRawBufferPointer(start: pointer, count: length))
        }
    }
}
