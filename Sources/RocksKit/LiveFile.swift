import CRocksDB

/// A table file the database currently uses (`RocksDatabase.liveFiles()`).
public struct LiveFile: Sendable, Hashable {
    /// The file's name inside the database directory, e.g. `000123.sst`.
    public var name: String
    /// Its size in bytes.
    public var size: Int
    /// The LSM level it is in.
    public var level: Int
    /// The column family it belongs to.
    public var columnFamily: String
}

extension RocksDatabase {
    /// The table files every column family uses now (flushes and compactions change the set at any time; a
    /// file not listed here may already be deleted). Safe from any thread while the database is open.
    public func liveFiles() -> [LiveFile] {
        guard let files = rocksdb_livefiles(self.handle) else { return [] }
        defer { rocksdb_livefiles_destroy(files) }
        return (0..<Int(rocksdb_livefiles_count(files))).map { index in
            let index = Int32(index)
            var name = rocksdb_livefiles_name(files, index).map { String(cString: $0) } ?? ""
            if name.hasPrefix("/") { name.removeFirst() }
            return LiveFile(
                name: name, size: Int(rocksdb_livefiles_size(files, index)), level: Int(rocksdb_livefiles_level(files, index)),
                columnFamily: rocksdb_livefiles_column_family_name(files, index).map { String(cString: $0) } ?? "")
        }
    }
}
