/// Options of one column family. Fields left `nil` take the database-wide value from `RocksOptions`.
public struct ColumnFamilyOptions: Sendable {
    /// This family's memtable size in bytes, or `nil` for `RocksOptions.writeBufferBytes`.
    public var writeBufferBytes: Int?
    /// This family's SST compression, or `nil` for `RocksOptions.compression`.
    public var compression: Compression?
    /// Key/value separation into blob files, or `nil` to keep every value inline in SST files.
    public var valueSeparation: ValueSeparation?
    /// The merge operator, or `nil` when the family never merges.
    public var mergeOperator: MergeOperator?
    /// A filter that drops entries during compaction (e.g. expired TTL values), or `nil`.
    public var compactionFilter: (any CompactionFilter)?

    /// Creates column family options; every parameter defaults to the database-wide value or to "off".
    public init(
        writeBufferBytes: Int? = nil,
        compression: Compression? = nil,
        valueSeparation: ValueSeparation? = nil,
        mergeOperator: MergeOperator? = nil,
        compactionFilter: (any CompactionFilter)? = nil
    ) {
        self.writeBufferBytes = writeBufferBytes
        self.compression = compression
        self.valueSeparation = valueSeparation
        self.mergeOperator = mergeOperator
        self.compactionFilter = compactionFilter
    }
}
