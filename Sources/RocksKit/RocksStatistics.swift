/// A snapshot of RocksDB's ticker statistics, parsed from the statistics dump that the 7.8.3 C API offers in
/// place of ticker getters.
public struct RocksStatistics: Sendable, Hashable {
    /// Every ticker by its RocksDB name (e.g. `rocksdb.bytes.written`).
    public var tickers: [String: UInt64]

    /// Creates statistics from ticker values.
    public init(tickers: [String: UInt64]) { self.tickers = tickers }

    /// Parses RocksDB's `Statistics::ToString()` text: lines `name COUNT : n`; histogram lines are skipped.
    public init(parsing text: String) {
        var tickers: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 4, parts[1] == "COUNT", parts[2] == ":", let value = UInt64(parts[3]) else {
                continue
            }
            tickers[String(parts[0])] = value
        }
        self.tickers = tickers
    }

    /// A ticker's value, 0 when RocksDB did not report it.
    public subscript(ticker: String) -> UInt64 { self.tickers[ticker] ?? 0 }

    /// Bytes the application wrote (keys, values, batch headers).
    public var bytesWritten: UInt64 { self["rocksdb.bytes.written"] }
    /// Bytes the application read.
    public var bytesRead: UInt64 { self["rocksdb.bytes.read"] }
    /// Bytes written by memtable flushes (SST files, and blob files with separation).
    public var flushBytesWritten: UInt64 { self["rocksdb.flush.write.bytes"] }
    /// Bytes written by compactions (SST files, and blob files that blob garbage collection relocates to).
    public var compactionBytesWritten: UInt64 { self["rocksdb.compact.write.bytes"] }
    /// SST bytes read by compactions.
    public var compactionBytesRead: UInt64 { self["rocksdb.compact.read.bytes"] }
    /// Bytes written to blob files (by flushes and by blob garbage collection).
    public var blobBytesWritten: UInt64 { self["rocksdb.blobdb.blob.file.bytes.written"] }
    /// Bytes read from blob files.
    public var blobBytesRead: UInt64 { self["rocksdb.blobdb.blob.file.bytes.read"] }

    /// Bytes written to storage by flushes and compactions per byte the application wrote; 0 when nothing was
    /// written. RocksDB's flush and compaction write counters already include the blob files those jobs write
    /// (they count every byte the job's thread wrote), so blob bytes are not added again.
    public var writeAmplification: Double {
        guard self.bytesWritten > 0 else { return 0 }
        let stored = self.flushBytesWritten + self.compactionBytesWritten
        return Double(stored) / Double(self.bytesWritten)
    }

    /// The change from `earlier` to `self`, ticker by ticker (for measuring one phase of a run).
    public func subtracting(_ earlier: RocksStatistics) -> RocksStatistics {
        var delta: [String: UInt64] = [:]
        for (name, value) in self.tickers {
            let before = earlier.tickers[name] ?? 0
            delta[name] = value >= before ? value - before : 0
        }
        return RocksStatistics(tickers: delta)
    }
}
