import CRocksDB

/// Writes collected to apply atomically in one call (`RocksDatabase.write(_:)`): far cheaper per write than
/// single puts, for bulk work such as changelog replay.
public struct RocksWriteBatch: ~Copyable {
    let handle: OpaquePointer

    /// An empty batch.
    public init() { self.handle = rocksdb_writebatch_create() }

    deinit { rocksdb_writebatch_destroy(self.handle) }

    /// The number of writes in the batch.
    public var count: Int { Int(rocksdb_writebatch_count(self.handle)) }

    /// Bytes the batch holds.
    public var byteCount: Int {
        var size = 0
        _ = rocksdb_writebatch_data(self.handle, &size)
        return size
    }

    /// Empties the batch.
    public mutating func clear() { rocksdb_writebatch_clear(self.handle) }

    /// Adds a put.
    public mutating func put(_ family: ColumnFamily, key: [UInt8], value: [UInt8]) {
        key.withUnsafeBufferPointer { k in
            value.withUnsafeBufferPointer { v in
                k.withMemoryRebound(to: CChar.self) { k in
                    v.withMemoryRebound(to: CChar.self) { v in
                        rocksdb_writebatch_put_cf(self.handle, family.handle, k.baseAddress, k.count, v.baseAddress, v.count)
                    }
                }
            }
        }
    }

    /// Adds a merge (the family needs a merge operator).
    public mutating func merge(_ family: ColumnFamily, key: [UInt8], operand: [UInt8]) {
        key.withUnsafeBufferPointer { k in
            operand.withUnsafeBufferPointer { v in
                k.withMemoryRebound(to: CChar.self) { k in
                    v.withMemoryRebound(to: CChar.self) { v in
                        rocksdb_writebatch_merge_cf(self.handle, family.handle, k.baseAddress, k.count, v.baseAddress, v.count)
                    }
                }
            }
        }
    }

    /// Adds a delete.
    public mutating func delete(_ family: ColumnFamily, key: [UInt8]) {
        key.withUnsafeBufferPointer { k in
            k.withMemoryRebound(to: CChar.self) { k in
                rocksdb_writebatch_delete_cf(self.handle, family.handle, k.baseAddress, k.count)
            }
        }
    }

    /// Adds a range delete of `[start, end)`.
    public mutating func deleteRange(_ family: ColumnFamily, start: [UInt8], end: [UInt8]) {
        start.withUnsafeBufferPointer { s in
            end.withUnsafeBufferPointer { e in
                s.withMemoryRebound(to: CChar.self) { s in
                    e.withMemoryRebound(to: CChar.self) { e in
                        rocksdb_writebatch_delete_range_cf(
                            self.handle, family.handle, s.baseAddress, s.count, e.baseAddress, e.count)
                    }
                }
            }
        }
    }
}

extension RocksDatabase {
    /// Applies every write of `batch` atomically (with the database's write options: WAL off by default).
    /// - Throws: `RocksError` (e.g. `.noSpace`); a failed batch has no effect.
    public func write(_ batch: borrowing RocksWriteBatch) throws(RocksError) {
        let handle = batch.handle
        try withRocksError(operation: "write batch of \(batch.count)", path: self.path) { error in
            rocksdb_write(self.handle, self.writeOptions, handle, error)
        }
    }
}
