import CRocksDB
import StateCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns one `rocksdb_iterator_t` over a column family, optionally bounded to `[lowerBound, upperBound)`.
/// RocksDB iterators are single-threaded, so this is not Sendable; it holds its database so the database
/// outlives it, and owns the bound buffers RocksDB reads while it iterates.
public struct RocksIterator: ~Copyable {
    private let handle: OpaquePointer
    private let readOptions: OpaquePointer
    private let database: RocksDatabase
    private let snapshot: RocksSnapshot?
    private let lowerBound: UnsafeMutableRawBufferPointer?
    private let upperBound: UnsafeMutableRawBufferPointer?

    /// Creates an iterator positioned nowhere; call `seek(to:)` or `seekToFirst()`.
    /// - Parameters:
    ///   - database: The open database.
    ///   - family: The family to iterate.
    ///   - lowerBound: The first key that may be visited (inclusive), or `nil`.
    ///   - upperBound: The key where iteration stops (exclusive), or `nil`.
    ///   - snapshot: Iterate the database as this snapshot sees it, or `nil` for its current state.
    public init(
        database: RocksDatabase, family: ColumnFamily, lowerBound: [UInt8]? = nil, upperBound: [UInt8]? = nil,
        snapshot: RocksSnapshot? = nil
    ) {
        precondition(!database.isClosed, "RocksIterator created on a closed database")
        self.database = database
        self.snapshot = snapshot
        self.readOptions = rocksdb_readoptions_create()!
        if let snapshot { rocksdb_readoptions_set_snapshot(self.readOptions, snapshot.handle) }
        self.lowerBound = lowerBound.map(Self.copy)
        self.upperBound = upperBound.map(Self.copy)
        if let lower = self.lowerBound {
            rocksdb_readoptions_set_iterate_lower_bound(
                self.readOptions, lower.baseAddress?.assumingMemoryBound(to: CChar.self), lower.count)
        }
        if let upper = self.upperBound {
            rocksdb_readoptions_set_iterate_upper_bound(
                self.readOptions, upper.baseAddress?.assumingMemoryBound(to: CChar.self), upper.count)
        }
        self.handle = rocksdb_create_iterator_cf(database.handle, self.readOptions, family.handle)
    }

    deinit {
        rocksdb_iter_destroy(self.handle)
        rocksdb_readoptions_destroy(self.readOptions)
        self.lowerBound?.deallocate()
        self.upperBound?.deallocate()
    }

    private static func copy(_ bytes: [UInt8]) -> UnsafeMutableRawBufferPointer {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        return UnsafeMutableRawBufferPointer(rebasing: buffer[0..<bytes.count])
    }

    /// Positions at the first key (within the bounds).
    public func seekToFirst() { rocksdb_iter_seek_to_first(self.handle) }

    /// Positions at the first key at or after `key`.
    public func seek(to key: [UInt8]) {
        key.withUnsafeBytes { k in
            rocksdb_iter_seek(self.handle, k.baseAddress?.assumingMemoryBound(to: CChar.self), k.count)
        }
    }

    /// Whether the iterator is on an entry.
    public var isValid: Bool { rocksdb_iter_valid(self.handle) != 0 }

    /// Moves to the next entry.
    /// - Precondition: `isValid`.
    public func next() {
        precondition(self.isValid, "RocksIterator.next() past the end")
        rocksdb_iter_next(self.handle)
    }

    /// Reads the current key and value without copying them.
    /// - Precondition: `isValid`.
    public func withEntry<R, E: Error>(_ body: (ByteReader, ByteReader) throws(E) -> R) throws(E) -> R {
        precondition(self.isValid, "RocksIterator read while not on an entry")
        var keyLength = 0
        var valueLength = 0
        let key = rocksdb_iter_key(self.handle, &keyLength)
        let value = rocksdb_iter_value(self.handle, &valueLength)
        return try body(
            ByteReader(unsafeBytes: UnsafeRawBufferPointer(start: key, count: keyLength)),
            ByteReader(unsafeBytes: UnsafeRawBufferPointer(start: value, count: valueLength)))
    }

    /// Copies the current key out.
    public var key: [UInt8] { self.withEntry { key, _ in var k = key; return k.readRemainingBytes() } }
    /// Copies the current value out.
    public var value: [UInt8] { self.withEntry { _, value in var v = value; return v.readRemainingBytes() } }

    /// Throws the error that ended iteration early, if any. Call it when `isValid` turns false.
    /// - Throws: `RocksError` (e.g. `.corruption`).
    public func checkError() throws(RocksError) {
        try withRocksError(operation: "iterate", path: self.database.path) { error in
            rocksdb_iter_get_error(self.handle, error)
        }
    }
}
