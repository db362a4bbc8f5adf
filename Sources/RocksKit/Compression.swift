import CRocksDB

/// A block or blob compression algorithm that Debian's RocksDB 7.8.3 build supports.
public enum Compression: String, Sendable, CaseIterable, Codable {
    /// No compression.
    case none
    /// Snappy: fast, modest ratio.
    case snappy
    /// LZ4: fast, modest ratio. RocksDB's usual choice for upper levels.
    case lz4
    /// Zstandard: slower, better ratio.
    case zstd

    var rocksValue: Int32 {
        switch self {
        case .none: Int32(rocksdb_no_compression)
        case .snappy: Int32(rocksdb_snappy_compression)
        case .lz4: Int32(rocksdb_lz4_compression)
        case .zstd: Int32(rocksdb_zstd_compression)
        }
    }
}
