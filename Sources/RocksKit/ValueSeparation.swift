/// Key/value separation (RocksDB's integrated BlobDB) for one column family: values of at least `minBlobSize`
/// bytes are written to blob files, so compaction rewrites keys and small blob references instead of large values.
public struct ValueSeparation: Sendable, Hashable, Codable {
    /// Values of at least this many bytes go to blob files. Default 1,024.
    public var minBlobSize: Int
    /// The target size of one blob file. Default 256 MiB (RocksDB's default).
    public var blobFileSize: Int
    /// Compression of blob files. Default none: large state values are often already compact, and an
    /// uncompressed blob is read with one copy.
    public var compression: Compression
    /// Garbage collection of blob files: relocates live blobs out of the oldest files during compaction so that
    /// overwritten values are reclaimed. Default on.
    public var garbageCollection: Bool
    /// The oldest fraction of blob files that GC relocates from. Default 0.1 (RocksDB's default is 0.25).
    ///
    /// GC relocates every live blob of those files whenever compaction touches its key, garbage or not, so the
    /// cutoff trades write amplification for space. Measured with 4 KiB values and uniform overwrites of 1 M keys
    /// (`weir-bench state`): 0.1 writes 1.95× the application's bytes with blob files at ~1.4× the live values;
    /// 0.25 writes 3.6× for ~1.15×. Inline values write 6.5× for ~1.15×.
    public var garbageCollectionAgeCutoff: Double

    /// Creates a separation policy; every parameter has the documented default.
    public init(
        minBlobSize: Int = 1_024,
        blobFileSize: Int = 256 << 20,
        compression: Compression = .none,
        garbageCollection: Bool = true,
        garbageCollectionAgeCutoff: Double = 0.1
    ) {
        precondition(minBlobSize >= 0, "minBlobSize must not be negative")
        precondition(blobFileSize > 0, "blobFileSize must be positive")
        precondition((0...1).contains(garbageCollectionAgeCutoff), "age cutoff is a fraction in 0...1")
        self.minBlobSize = minBlobSize
        self.blobFileSize = blobFileSize
        self.compression = compression
        self.garbageCollection = garbageCollection
        self.garbageCollectionAgeCutoff = garbageCollectionAgeCutoff
    }
}
