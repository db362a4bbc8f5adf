import Foundation
import RocksKit
import StateCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Removes a scratch database and its checkpoint copy.
private func removeScratch(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
    try? FileManager.default.removeItem(atPath: path + ".chk")
}

private func scratchPath(_ name: String) -> String {
    let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    return "\(base)/weir-rockskit-\(getpid())-\(name)-\(UInt32.random(in: 0...UInt32.max))"
}

/// The newest OPTIONS file RocksDB wrote for the database at `path`: the options it runs with.
private func rocksOptionsFile(_ path: String) throws -> String {
    let files = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasPrefix("OPTIONS-") }
    return try String(contentsOfFile: "\(path)/\(try #require(files.max()))", encoding: .utf8)
}

private final class DropOddValues: CompactionFilter {
    var name: String { "test.drop-odd" }
    func shouldRemove(key: ByteReader, value: ByteReader) -> Bool {
        var value = value
        return ((try? value.readUInt8()) ?? 0) % 2 == 1
    }
}

@Suite struct RocksDatabaseTests {
    @Test func putGetDeleteRoundTrip() throws {
        let path = scratchPath("basic")
        defer { removeScratch(path) }
        let database = try RocksDatabase(path: path, columnFamilies: ["a": ColumnFamilyOptions()])
        defer { try? database.close() }
        let family = try #require(database.columnFamily(named: "a"))
        try database.put(family, key: [1, 2], value: [9, 9, 9])
        #expect(try database.get(family, key: [1, 2]) == [9, 9, 9])
        try database.delete(family, key: [1, 2])
        #expect(try database.get(family, key: [1, 2]) == nil)
    }

    /// Memtables, table readers and the block cache show in the database's memory figures, and the database in
    /// the process's sum while it is open.
    @Test func memoryUsageCountsMemtablesTableReadersAndTheBlockCache() throws {
        let path = scratchPath("memory")
        defer { removeScratch(path) }
        let database = try RocksDatabase(path: path, columnFamilies: ["a": ColumnFamilyOptions()])
        let family = try #require(database.columnFamily(named: "a"))
        let value = [UInt8](repeating: 7, count: 100)
        func key(_ i: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(i).bigEndian, Array.init) }
        for i in 0..<20_000 { try database.put(family, key: key(i), value: value) }
        let written = database.memoryUsage
        #expect(written.databases == 1)
        #expect(written.memtableBytes >= 2_000_000, "20,000 × 104 B in the memtable: \(written.memtableBytes) B")
        try database.flush()
        for i in stride(from: 0, to: 20_000, by: 7) { #expect(try database.get(family, key: key(i)) == value) }
        let read = database.memoryUsage
        #expect(read.memtableBytes < written.memtableBytes / 2, "the flush emptied the memtable")
        #expect(read.tableReaderBytes > 0 && read.blockCacheBytes > 0, "\(read)")
        let process = RocksMemoryUsage.ofOpenDatabases
        #expect(process.databases >= 1 && process.blockCacheBytes >= read.blockCacheBytes)
        try database.close()
        #expect(database.memoryUsage == .zero)
    }

    /// A snapshot sees the database as it was, through get, batched multi-get and iterators, across a flush and
    /// a compaction; a database closes with a snapshot still held.
    @Test func snapshotReadsTheDatabaseAsItWas() throws {
        let path = scratchPath("snapshot")
        defer { removeScratch(path) }
        let database = try RocksDatabase(path: path, columnFamilies: ["a": ColumnFamilyOptions()])
        let family = try #require(database.columnFamily(named: "a"))
        for key in UInt8(0)..<50 { try database.put(family, key: [key], value: [key, 0]) }
        let snapshot = database.snapshot()
        for key in UInt8(0)..<50 where key % 2 == 0 { try database.put(family, key: [key], value: [key, 1]) }
        for key in UInt8(0)..<50 where key % 5 == 0 { try database.delete(family, key: [key]) }
        try database.put(family, key: [200], value: [1])
        try database.flush()
        database.compact(family)
        #expect(try database.get(family, key: [2]) == [2, 1])
        #expect(try database.get(family, key: [2], at: snapshot) == [2, 0])
        #expect(try database.get(family, key: [5], at: snapshot) == [5, 0])
        #expect(try database.get(family, key: [200], at: snapshot) == nil)
        let keys: [[UInt8]] = [[1], [2], [5], [49], [200]]
        #expect(try database.multiGet(family, sortedKeys: keys, at: snapshot) == [[1, 0], [2, 0], [5, 0], [49, 0], nil])
        #expect(try database.multiGet(family, sortedKeys: keys) == [[1, 0], [2, 1], nil, [49, 0], [1]])
        do {
            let iterator = RocksIterator(database: database, family: family, snapshot: snapshot)
            iterator.seekToFirst()
            var seen = 0
            while iterator.isValid {
                #expect(iterator.value == [UInt8(seen), 0])
                seen += 1
                iterator.next()
            }
            #expect(seen == 50)
        }
        database.release(snapshot)
        database.release(snapshot)
        _ = database.snapshot()
        try database.close()
    }

    /// With separation, the flush's write counter already includes the blob files it writes: one fill of large
    /// values costs about one byte stored per byte written, not two.
    @Test func separatedValuesAreCountedOnceInWriteAmplification() throws {
        let path = scratchPath("wamp")
        defer { removeScratch(path) }
        let database = try RocksDatabase(path: path, options: RocksOptions(statistics: true))
        defer { try? database.close() }
        let family = try database.createColumnFamily(
            named: "blobs", options: ColumnFamilyOptions(valueSeparation: ValueSeparation(minBlobSize: 1_024)))
        let before = database.statistics()
        let value = (0..<4_096).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
        for key in 0..<2_000 { try database.put(family, key: withUnsafeBytes(of: UInt32(key).bigEndian, Array.init), value: value) }
        try database.flush()
        let delta = database.statistics().subtracting(before)
        #expect(delta.blobBytesWritten >= 2_000 * 4_096)
        #expect(delta.flushBytesWritten >= delta.blobBytesWritten, "the flush counter includes the blob files")
        #expect(delta.writeAmplification > 0.9 && delta.writeAmplification < 1.3)
    }

    @Test func concatenationMergeAppendsWithoutReading() throws {
        let path = scratchPath("merge")
        defer { removeScratch(path) }
        let database = try RocksDatabase(path: path)
        defer { try? database.close() }
        let family = try database.createColumnFamily(named: "list", options: ColumnFamilyOptions(mergeOperator: .concatenation))
        try database.merge(family, key: [7], operand: [1, 2])
        try database.merge(family, key: [7], operand: [3])
        #expect(try database.get(family, key: [7]) == [1, 2, 3])
        try database.flush()
        try database.merge(family, key: [7], operand: [4])
        database.compact(family)
        #expect(try database.get(family, key: [7]) == [1, 2, 3, 4])
    }

    @Test func compactionFilterDropsEntries() throws {
        let path = scratchPath("filter")
        defer { removeScratch(path) }
        let database = try RocksDatabase(path: path)
        defer { try? database.close() }
        let family = try database.createColumnFamily(
            named: "f", options: ColumnFamilyOptions(compactionFilter: DropOddValues()))
        for i in UInt8(0)..<10 { try database.put(family, key: [i], value: [i]) }
        try database.flush()
        database.compact(family)
        for i in UInt8(0)..<10 {
            #expect(try database.get(family, key: [i]) == (i % 2 == 0 ? [i] : nil))
        }
    }

    /// With the memtable's whole-key Bloom filter (the default), gets still find every key that is there and none
    /// that is not, in the memtable and after a flush; RocksDB's OPTIONS file shows the filter was configured,
    /// and a ratio of 0 leaves it off.
    @Test(arguments: [0.02, 0]) func memtableBloomFilterKeepsGetsExact(ratio: Double) throws {
        let path = scratchPath("memtable-bloom")
        defer { removeScratch(path) }
        let database = try RocksDatabase(path: path, options: RocksOptions(memtableBloomRatio: ratio))
        defer { try? database.close() }
        let family = try database.createColumnFamily(named: "counts", options: ColumnFamilyOptions())
        func key(_ i: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(i).bigEndian, Array.init) }
        for i in stride(from: 0, to: 2_000, by: 2) { try database.put(family, key: key(i), value: key(i * 3)) }
        for round in 0..<2 {
            for i in 0..<2_000 {
                #expect(try database.get(family, key: key(i)) == (i % 2 == 0 ? key(i * 3) : nil), "round \(round)")
            }
            try database.flush()
        }
        let text = try rocksOptionsFile(path)
        #expect(text.contains("memtable_whole_key_filtering=\(ratio > 0)"))
        #expect(text.contains("memtable_prefix_bloom_size_ratio=\(ratio > 0 ? "0.020000" : "0.000000")"))
    }

    /// `maxBackgroundFlushes` reaches RocksDB with compactions at the rest of `maxBackgroundJobs`; `nil` leaves
    /// RocksDB's own split.
    @Test func backgroundFlushesAreConfigured() throws {
        for (flushes, expected) in [(2, ["max_background_flushes=2", "max_background_compactions=1"]),
                                    (nil, ["max_background_flushes=-1", "max_background_compactions=-1"])] as [(Int?, [String])] {
            let path = scratchPath("flushes")
            defer { removeScratch(path) }
            let database = try RocksDatabase(path: path, options: RocksOptions(maxBackgroundFlushes: flushes))
            let text = try rocksOptionsFile(path)
            try database.close()
            for line in expected { #expect(text.contains(line), "\(String(describing: flushes))") }
        }
    }

    @Test func valueSeparationWritesBlobFiles() throws {
        let path = scratchPath("blob")
        defer { removeScratch(path) }
        let database = try RocksDatabase(path: path, options: RocksOptions(statistics: true))
        defer { try? database.close() }
        let family = try database.createColumnFamily(
            named: "big", options: ColumnFamilyOptions(valueSeparation: ValueSeparation(minBlobSize: 512)))
        let large = [UInt8](repeating: 0xAB, count: 4_096)
        for i in UInt8(0)..<50 { try database.put(family, key: [i], value: large) }
        try database.flush()
        #expect((database.integerProperty("rocksdb.num-blob-files", family: family) ?? 0) >= 1)
        #expect((database.integerProperty("rocksdb.total-blob-file-size", family: family) ?? 0) >= 50 * 4_096)
        #expect(try database.get(family, key: [3]) == large)
        let statistics = database.statistics()
        #expect(statistics.blobBytesWritten >= 50 * 4_096)
        #expect(statistics.bytesWritten >= 50 * 4_096)
        #expect(statistics.writeAmplification > 0)
    }

    @Test func iteratorRespectsBounds() throws {
        let path = scratchPath("iter")
        defer { removeScratch(path) }
        let database = try RocksDatabase(path: path)
        defer { try? database.close() }
        let family = try #require(database.columnFamily(named: "default"))
        for i in UInt8(0)..<10 { try database.put(family, key: [1, i], value: [i]) }
        try database.put(family, key: [2, 0], value: [0])
        let iterator = RocksIterator(database: database, family: family, lowerBound: [1, 3], upperBound: [1, 6])
        iterator.seekToFirst()
        var seen: [UInt8] = []
        while iterator.isValid {
            seen.append(iterator.value[0])
            iterator.next()
        }
        try iterator.checkError()
        #expect(seen == [3, 4, 5])
    }

    @Test func secondOpenOfSameDirectoryIsLocked() throws {
        let path = scratchPath("lock")
        defer { removeScratch(path) }
        let first = try RocksDatabase(path: path)
        defer { try? first.close() }
        let error = try #require(throws: RocksError.self) { _ = try RocksDatabase(path: path) }
        #expect(error.code == .locked)
        #expect(error.message.contains(path))
    }

    @Test func missingDatabaseWithoutCreateIsMissing() throws {
        let path = scratchPath("missing")
        defer { removeScratch(path) }
        let error = try #require(throws: RocksError.self) {
            _ = try RocksDatabase(path: path, options: RocksOptions(createIfMissing: false))
        }
        #expect(error.code == .missing)
    }

    @Test func corruptManifestIsCorruption() throws {
        let path = scratchPath("corrupt")
        defer { removeScratch(path) }
        do {
            let database = try RocksDatabase(path: path)
            try database.put(try #require(database.columnFamily(named: "default")), key: [1], value: [1])
            try database.close()
        }
        // Point CURRENT at a MANIFEST full of garbage.
        let manifest = "\(path)/MANIFEST-999999"
        let garbage = [UInt8](repeating: 0x5A, count: 4_096)
        let file = fopen(manifest, "w")
        _ = garbage.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
        let current = fopen("\(path)/CURRENT", "w")
        fputs("MANIFEST-999999\n", current)
        fclose(current)
        let error = try #require(throws: RocksError.self) { _ = try RocksDatabase(path: path) }
        #expect(error.code == .corruption)
        #expect(error.description.contains(path))
    }

    @Test func checkpointIsOpenable() throws {
        let path = scratchPath("checkpoint")
        defer { removeScratch(path) }
        let database = try RocksDatabase(path: path)
        let family = try #require(database.columnFamily(named: "default"))
        try database.put(family, key: [5], value: [6])
        try database.flush()
        try database.createCheckpoint(at: path + ".chk")
        try database.close()
        let copy = try RocksDatabase(path: path + ".chk", options: RocksOptions(createIfMissing: false))
        defer { try? copy.close() }
        #expect(try copy.get(try #require(copy.columnFamily(named: "default")), key: [5]) == [6])
    }

    /// A written table file is ingested in one step and is newer than everything in the family: its puts,
    /// deletions and merges win over older entries, its range deletion removes older keys but not the file's own
    /// puts inside the range, and out-of-order keys are refused.
    @Test func ingestedTableIsNewerThanTheDatabase() throws {
        let path = scratchPath("ingest")
        defer { removeScratch(path) }
        try FileManager.default.createDirectory(atPath: path + ".chk", withIntermediateDirectories: true)
        let database = try RocksDatabase(
            path: path, columnFamilies: ["a": ColumnFamilyOptions(mergeOperator: .concatenation)])
        defer { try? database.close() }
        let family = try #require(database.columnFamily(named: "a"))
        for key in UInt8(0)..<20 { try database.put(family, key: [key], value: [key]) }
        try database.flush()
        try database.put(family, key: [3], value: [33])  // in the memtable: the ingest must flush it first
        try database.put(family, key: [7, 1], value: [71])
        try database.put(family, key: [7, 2], value: [72])
        try database.put(family, key: [8], value: [8])
        let file = path + ".chk/1.sst"
        let writer = try database.tableWriter(path: file)
        func put(_ key: [UInt8], _ value: [UInt8]) throws {
            try key.withUnsafeBytes { k in try value.withUnsafeBytes { v in try writer.put(key: k, value: v) } }
        }
        try put([1], [100])
        try [UInt8(2)].withUnsafeBytes { try writer.delete(key: $0) }
        try [UInt8(3)].withUnsafeBytes { k in try [UInt8(4)].withUnsafeBytes { try writer.merge(key: k, operand: $0) } }
        try put([7, 2], [172])
        try writer.deleteRange(start: [7], end: [8])
        let refused = #expect(throws: RocksError.self) { try put([0], [0]) }
        #expect(refused?.message.isEmpty == false)
        #expect(writer.entries == 5)
        #expect(try writer.finish() > 0)
        try database.ingest(family, files: [file])
        #expect(try database.get(family, key: [1]) == [100])
        #expect(try database.get(family, key: [2]) == nil)
        #expect(try database.get(family, key: [3]) == [33, 4])
        #expect(try database.get(family, key: [7, 1]) == nil)
        #expect(try database.get(family, key: [7, 2]) == [172])
        #expect(try database.get(family, key: [8]) == [8])
        #expect(try database.get(family, key: [9]) == [9])
        try database.put(family, key: [1], value: [101])  // later writes are newer than the ingested file
        #expect(try database.get(family, key: [1]) == [101])
        #expect(!FileManager.default.fileExists(atPath: file))
    }

    @Test func statisticsParseTickerLines() {
        let text = """
            rocksdb.bytes.written COUNT : 1000
            rocksdb.flush.write.bytes COUNT : 1200
            rocksdb.compact.write.bytes COUNT : 800
            rocksdb.db.get.micros P50 : 1.0 P95 : 2.0 P99 : 3.0 P100 : 4.0 COUNT : 9 SUM : 10
            """
        let statistics = RocksStatistics(parsing: text)
        #expect(statistics.bytesWritten == 1_000)
        #expect(statistics.writeAmplification == 2.0)
        #expect(statistics.tickers["rocksdb.db.get.micros"] == nil)
    }
}

@Suite struct HardwareCRC32CTests {
    /// Equal to the software CRC-32C for every length around the 8-byte word, for a large buffer, and when
    /// extended chunk by chunk; the standard check value holds.
    @Test func matchesTheSoftwareChecksum() {
        var generator = SeededGenerator(seed: 11)
        let bytes = (0..<(1 << 20) + 13).map { _ in UInt8.random(in: 0...255, using: &generator) }
        #expect(HardwareCRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(HardwareCRC32C.checksum([UInt8]()) == CRC32C.checksum([UInt8]()))
        for length in 0..<40 {
            #expect(HardwareCRC32C.checksum(bytes[0..<length]) == CRC32C.checksum(bytes[0..<length]))
        }
        #expect(HardwareCRC32C.checksum(bytes) == CRC32C.checksum(bytes))
        var running: UInt32 = 0
        for start in stride(from: 0, to: bytes.count, by: 65_537) {
            running = bytes[start..<min(start + 65_537, bytes.count)].withUnsafeBytes { HardwareCRC32C.extend(running, $0) }
        }
        #expect(running == CRC32C.checksum(bytes))
    }
}
