import CRocksDB
import Foundation
import KeyedState
import RocksKit
import StateCore

/// One value size × separation mode of `weir-bench state`: a Weir backend and a raw database side by side.
struct StateBenchmarkRun {
    let keys: Int
    let operations: Int
    let valueSize: Int
    let mode: SeparationMode
    /// The separation used in `.blob` mode.
    let separation: ValueSeparation
    let directory: String
    let seed: UInt64
    /// The state kinds whose phases run.
    let families: Set<StateFamily>

    private var sizeLabel: String { self.valueSize % 1_024 == 0 ? "\(self.valueSize / 1_024)KiB" : "\(self.valueSize)B" }
    /// Maps have this many entries each, so map state holds as many entries as value state.
    static let mapFanOut = 16
    /// Alternating slices per phase.
    static let rounds = 6

    func execute(report: (StateBenchmarkResult) -> Void) throws {
        let separation = self.mode == .blob ? self.separation : nil
        var options = RocksOptions()
        options.statistics = true  // write amplification is read from them
        let weir = try WeirSide(directory: "\(self.directory)/weir", options: options, separation: separation)
        let raw = try RawSide(directory: "\(self.directory)/raw", options: options, separation: separation)
        defer {
            try? weir.backend.close()
            try? raw.database.close()
        }
        // Incompressible bytes, so LZ4 cannot hide the cost of rewriting large values in compaction.
        var bytes = SeededGenerator(seed: self.seed ^ 0x5EED)
        let payload = (0..<self.valueSize).map { _ in UInt8(truncatingIfNeeded: bytes.next()) }
        let mapKeys = max(self.keys / Self.mapFanOut, 1)

        /// Runs a phase on both sides in `rounds` alternating slices (A B, B A, …) so that drift of this shared
        /// machine and background work land on both sides alike; each slice starts with both databases quiet.
        func phase(_ operation: String, count: Int, writes: Bool,
                   weirBody: (inout SeededGenerator, Range<Int>) throws -> Void,
                   rawBody: (inout SeededGenerator, Range<Int>) throws -> Void) throws {
            let weirStats = weir.database.statistics()
            let rawStats = raw.database.statistics()
            var weirRandom = SeededGenerator(seed: self.seed)
            var rawRandom = SeededGenerator(seed: self.seed)
            var weirTime = SliceTime()
            var rawTime = SliceTime()
            let rounds = Self.rounds
            for round in 0..<rounds {
                let slice = (count * round / rounds)..<(count * (round + 1) / rounds)
                for side in (round % 2 == 0 ? [0, 1] : [1, 0]) {
                    weir.database.waitForBackgroundWork()
                    raw.database.waitForBackgroundWork()
                    if side == 0 {
                        try weirTime.add(writes: writes, database: weir.database) { try weirBody(&weirRandom, slice) }
                    } else {
                        try rawTime.add(writes: writes, database: raw.database) { try rawBody(&rawRandom, slice) }
                    }
                }
            }
            var weirAmplification: Double?
            var rawAmplification: Double?
            if writes {
                // Count the memtable's bytes and the compactions this phase triggered: flush and wait for
                // background work (untimed) before reading the statistics.
                try weir.database.flush()
                try raw.database.flush()
                weir.database.waitForBackgroundWork()
                raw.database.waitForBackgroundWork()
                weirAmplification = weir.database.statistics().subtracting(weirStats).writeAmplification
                rawAmplification = raw.database.statistics().subtracting(rawStats).writeAmplification
            }
            let weirRate = Double(count) / weirTime.sustained
            let rawRate = Double(count) / rawTime.sustained
            report(StateBenchmarkResult(
                case: "\(operation).\(self.sizeLabel).\(self.mode.rawValue)", operation: operation,
                valueBytes: self.valueSize, separation: self.mode.rawValue, operations: count,
                weirOpsPerSec: weirRate, rawOpsPerSec: rawRate, ratio: weirRate / rawRate,
                weirForegroundOpsPerSec: writes ? Double(count) / weirTime.foreground : nil,
                rawForegroundOpsPerSec: writes ? Double(count) / rawTime.foreground : nil,
                writeAmplification: weirAmplification, rawWriteAmplification: rawAmplification,
                diskBytes: writes ? weir.database.liveFileBytes() : nil))
        }

        let n = self.operations
        let keys = UInt64(self.keys)
        if self.families.contains(.value) {
            try phase("value.fill", count: self.keys, writes: true,
                      weirBody: { _, slice in for k in slice { try weir.updateValue(Int64(k), payload) } },
                      rawBody: { _, slice in for k in slice { try raw.putValue(Int64(k), payload) } })
            try phase("value.update", count: n, writes: true,
                      weirBody: { r, slice in for _ in slice { try weir.updateValue(Int64(r.next() % keys), payload) } },
                      rawBody: { r, slice in for _ in slice { try raw.putValue(Int64(r.next() % keys), payload) } })
            try phase("value.get", count: n, writes: false,
                      weirBody: { r, slice in for _ in slice { try weir.getValue(Int64(r.next() % keys)) } },
                      rawBody: { r, slice in for _ in slice { try raw.getValue(Int64(r.next() % keys)) } })
        }
        if self.families.contains(.list) {
            try phase("list.append", count: n, writes: true,
                      weirBody: { r, slice in for _ in slice { try weir.appendList(Int64(r.next() % keys), payload) } },
                      rawBody: { r, slice in for _ in slice { try raw.appendList(Int64(r.next() % keys), payload) } })
            try phase("list.get", count: n, writes: false,
                      weirBody: { r, slice in for _ in slice { try weir.getList(Int64(r.next() % keys)) } },
                      rawBody: { r, slice in for _ in slice { try raw.getList(Int64(r.next() % keys)) } })
        }
        if self.families.contains(.map) {
            let mapSpace = UInt64(mapKeys)
            let fan = UInt64(Self.mapFanOut)
            try phase("map.put", count: n, writes: true,
                      weirBody: { r, slice in
                          for _ in slice { let x = r.next(); try weir.putMap(Int64(x % mapSpace), Int32((x >> 40) % fan), payload) } },
                      rawBody: { r, slice in
                          for _ in slice { let x = r.next(); try raw.putMap(Int64(x % mapSpace), Int32((x >> 40) % fan), payload) } })
            try phase("map.get", count: n, writes: false,
                      weirBody: { r, slice in
                          for _ in slice { let x = r.next(); try weir.getMap(Int64(x % mapSpace), Int32((x >> 40) % fan)) } },
                      rawBody: { r, slice in
                          for _ in slice { let x = r.next(); try raw.getMap(Int64(x % mapSpace), Int32((x >> 40) % fan)) } })
            let iterations = max(n / Self.mapFanOut, 1)
            try phase("map.iterate", count: iterations, writes: false,
                      weirBody: { r, slice in for _ in slice { try weir.iterateMap(Int64(r.next() % mapSpace)) } },
                      rawBody: { r, slice in for _ in slice { try raw.iterateMap(Int64(r.next() % mapSpace)) } })
        }
        precondition(weir.checksum > 0 && raw.checksum > 0, "the benchmark read nothing")
    }
}

/// The time one side of a phase took, summed over its slices.
///
/// `foreground` is the time of the calls alone. `sustained` adds, for write phases, the flush and the
/// compactions the slice left behind: a store that takes writes faster than its compactions keep up stalls
/// sooner or later, so only the rate that includes the debt it builds holds over a long run.
private struct SliceTime {
    var foreground = 0.0
    var sustained = 0.0

    mutating func add(writes: Bool, database: RocksDatabase, _ body: () throws -> Void) throws {
        let start = ContinuousClock.now
        try body()
        let calls = start.duration(to: .now)
        if writes {
            try database.flush()
            database.waitForBackgroundWork()
        }
        self.foreground += calls.seconds
        self.sustained += start.duration(to: .now).seconds
    }
}

/// The Weir side: a RocksDB keyed state backend with value, list and map state.
private final class WeirSide {
    let backend: KeyedStateBackend<Int64>
    /// The backend's RocksDB database (flushes, waits, statistics).
    let database: RocksDatabase
    let value: ValueState<[UInt8], VoidNamespace>
    let list: ListState<[UInt8], VoidNamespace>
    let map: MapState<Int32, [UInt8], VoidNamespace>
    var checksum = 0

    init(directory: String, options: RocksOptions, separation: ValueSeparation?) throws {
        self.backend = try .rocksDB(directory: directory, keySerializer: .int64, options: options)
        self.database = self.backend.rocksDatabase!  // a RocksDB backend always has one
        let stateOptions = StateOptions(valueSeparation: separation)
        self.value = try self.backend.valueState(ValueStateDescriptor("value", serializer: .bytes, options: stateOptions))
        self.list = try self.backend.listState(ListStateDescriptor("list", serializer: .bytes, options: stateOptions))
        self.map = try self.backend.mapState(
            MapStateDescriptor("map", keySerializer: .int32, valueSerializer: .bytes, options: stateOptions))
    }

    @inline(__always) func updateValue(_ key: Int64, _ payload: [UInt8]) throws {
        try self.backend.setCurrentKey(key)
        try self.value.update(payload)
    }

    @inline(__always) func getValue(_ key: Int64) throws {
        try self.backend.setCurrentKey(key)
        self.checksum &+= try self.value.value()?.count ?? 0
    }

    @inline(__always) func appendList(_ key: Int64, _ payload: [UInt8]) throws {
        try self.backend.setCurrentKey(key)
        try self.list.add(payload)
    }

    @inline(__always) func getList(_ key: Int64) throws {
        try self.backend.setCurrentKey(key)
        self.checksum &+= try self.list.get().count
    }

    @inline(__always) func putMap(_ key: Int64, _ userKey: Int32, _ payload: [UInt8]) throws {
        try self.backend.setCurrentKey(key)
        try self.map.put(userKey, payload)
    }

    @inline(__always) func getMap(_ key: Int64, _ userKey: Int32) throws {
        try self.backend.setCurrentKey(key)
        self.checksum &+= try self.map.get(userKey)?.count ?? 0
    }

    @inline(__always) func iterateMap(_ key: Int64) throws {
        try self.backend.setCurrentKey(key)
        try self.map.forEach { _, value in
            self.checksum &+= value.count
            return true
        }
    }
}

/// The raw side: the same operations as direct RocksDB C calls on a database with identical options and the same
/// key layout: `2-byte key group ‖ 8-byte big-endian key` (‖ 4-byte map key), values the payload (list elements framed with a
/// varint length, as the concatenation merge operator expects).
/// A RocksDB database driven through the raw C API exactly as a C program would (the reference side).
final class RawSide: @unchecked Sendable {
    private var countBytes = [UInt8](repeating: 0, count: 8)
    let database: RocksDatabase
    private let value: RocksDatabase.RawHandles
    private let list: RocksDatabase.RawHandles
    private let map: RocksDatabase.RawHandles
    private var key = [UInt8](repeating: 0, count: 14)
    private var keyBytes = [UInt8](repeating: 0, count: 8)
    private var upper = [UInt8](repeating: 0, count: 10)
    private var readBuffer = [UInt8](repeating: 0, count: 1 << 20)
    private var frame: [UInt8] = []
    var checksum = 0

    init(directory: String, options: RocksOptions, separation: ValueSeparation?) throws {
        self.database = try RocksDatabase(
            path: directory, options: options,
            columnFamilies: [
                "value": ColumnFamilyOptions(valueSeparation: separation),
                "list": ColumnFamilyOptions(valueSeparation: separation, mergeOperator: .concatenation),
                "map": ColumnFamilyOptions(valueSeparation: separation),
            ])
        self.value = self.database.rawHandles(self.database.columnFamily(named: "value")!)
        self.list = self.database.rawHandles(self.database.columnFamily(named: "list")!)
        self.map = self.database.rawHandles(self.database.columnFamily(named: "map")!)
    }

    @inline(__always) private func setKey(_ k: Int64, _ userKey: Int32? = nil) -> Int {
        // The same layout as Weir's: the key group is MurmurHash3 of the 8 key bytes modulo 128.
        var big = UInt64(bitPattern: k).bigEndian
        withUnsafeBytes(of: &big) { bytes in for i in 0..<8 { self.keyBytes[i] = bytes[i] } }
        let group = StableHash.murmur3(self.keyBytes) % 128
        self.key[0] = UInt8(group >> 8)
        self.key[1] = UInt8(truncatingIfNeeded: group)
        for i in 0..<8 { self.key[2 + i] = self.keyBytes[i] }
        guard let userKey else { return 10 }
        var user = UInt32(bitPattern: userKey).bigEndian
        withUnsafeBytes(of: &user) { bytes in for i in 0..<4 { self.key[10 + i] = bytes[i] } }
        return 14
    }

    private func check(_ error: UnsafeMutablePointer<CChar>?) throws {
        if let error {
            let message = String(cString: error)
            rocksdb_free(error)
            throw RocksError(code: .other, message: message, path: self.database.path)
        }
    }

    @inline(__always) private func put(_ h: RocksDatabase.RawHandles, _ keyLength: Int, _ value: [UInt8]) throws {
        var error: UnsafeMutablePointer<CChar>?
        self.key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                rocksdb_put_cf(h.database, h.writeOptions, h.family, k.baseAddress!.assumingMemoryBound(to: CChar.self),
                               keyLength, v.baseAddress!.assumingMemoryBound(to: CChar.self), v.count, &error)
            }
        }
        try self.check(error)
    }

    /// Gets and copies the value into a reusable buffer, returning its length (or -1 when absent).
    @inline(__always) private func get(_ h: RocksDatabase.RawHandles, _ keyLength: Int) throws -> Int {
        var error: UnsafeMutablePointer<CChar>?
        let slice = self.key.withUnsafeBytes { k in
            rocksdb_get_pinned_cf(h.database, h.readOptions, h.family, k.baseAddress!.assumingMemoryBound(to: CChar.self),
                                  keyLength, &error)
        }
        try self.check(error)
        guard let slice else { return -1 }
        defer { rocksdb_pinnableslice_destroy(slice) }
        var length = 0
        let pointer = rocksdb_pinnableslice_value(slice, &length)
        self.readBuffer.withUnsafeMutableBytes { buffer in
            buffer.baseAddress!.copyMemory(from: pointer!, byteCount: min(length, buffer.count))
        }
        return length
    }

    func putValue(_ k: Int64, _ payload: [UInt8]) throws { try self.put(self.value, self.setKey(k), payload) }

    /// The keyed-count record of the recovery workload: read the count, write count + 1, write the payload (into
    /// the `map` family under the 10-byte key).
    func countAndKeep(_ k: Int64, _ payload: [UInt8]) throws {
        let length = self.setKey(k)
        let found = try self.get(self.value, length)
        var count: Int64 = 0
        if found == 8 { for i in 0..<8 { count = count << 8 | Int64(self.readBuffer[i]) } }
        count += 1
        var big = count.bigEndian
        withUnsafeBytes(of: &big) { bytes in for i in 0..<8 { self.countBytes[i] = bytes[i] } }
        try self.put(self.value, length, self.countBytes)
        try self.put(self.map, length, payload)
    }

    func getValue(_ k: Int64) throws { self.checksum &+= max(try self.get(self.value, self.setKey(k)), 0) }

    func appendList(_ k: Int64, _ payload: [UInt8]) throws {
        let length = self.setKey(k)
        self.frame.removeAll(keepingCapacity: true)
        var size = UInt64(payload.count)
        while size >= 0x80 { self.frame.append(UInt8(truncatingIfNeeded: size) | 0x80); size >>= 7 }
        self.frame.append(UInt8(size))
        self.frame.append(contentsOf: payload)
        var error: UnsafeMutablePointer<CChar>?
        self.key.withUnsafeBytes { key in
            self.frame.withUnsafeBytes { v in
                rocksdb_merge_cf(self.list.database, self.list.writeOptions, self.list.family,
                                 key.baseAddress!.assumingMemoryBound(to: CChar.self), length,
                                 v.baseAddress!.assumingMemoryBound(to: CChar.self), v.count, &error)
            }
        }
        try self.check(error)
    }

    func getList(_ k: Int64) throws {
        let length = try self.get(self.list, self.setKey(k))
        guard length > 0 else { return }
        // Walk the frames as a C reader would, counting elements.
        var at = 0
        var elements = 0
        while at < min(length, self.readBuffer.count) {
            var size = 0
            var shift = 0
            while true {
                let byte = self.readBuffer[at]
                at += 1
                size |= Int(byte & 0x7F) << shift
                if byte & 0x80 == 0 { break }
                shift += 7
            }
            at += size
            elements += 1
        }
        self.checksum &+= elements
    }

    func putMap(_ k: Int64, _ userKey: Int32, _ payload: [UInt8]) throws {
        try self.put(self.map, self.setKey(k, userKey), payload)
    }

    func getMap(_ k: Int64, _ userKey: Int32) throws {
        self.checksum &+= max(try self.get(self.map, self.setKey(k, userKey)), 0)
    }

    func iterateMap(_ k: Int64) throws {
        _ = self.setKey(k)
        for i in 0..<10 { self.upper[i] = self.key[i] }
        var i = 9
        while i >= 0 { if self.upper[i] == 0xFF { self.upper[i] = 0; i -= 1 } else { self.upper[i] += 1; break } }
        let options = rocksdb_readoptions_create()!
        defer { rocksdb_readoptions_destroy(options) }
        try self.key.withUnsafeBytes { lower in
            try self.upper.withUnsafeBytes { upper in
                rocksdb_readoptions_set_iterate_lower_bound(options, lower.baseAddress!.assumingMemoryBound(to: CChar.self), 10)
                rocksdb_readoptions_set_iterate_upper_bound(options, upper.baseAddress!.assumingMemoryBound(to: CChar.self), 10)
                let iterator = rocksdb_create_iterator_cf(self.map.database, options, self.map.family)!
                defer { rocksdb_iter_destroy(iterator) }
                rocksdb_iter_seek(iterator, lower.baseAddress!.assumingMemoryBound(to: CChar.self), 10)
                while rocksdb_iter_valid(iterator) != 0 {
                    var keyLength = 0
                    var valueLength = 0
                    _ = rocksdb_iter_key(iterator, &keyLength)
                    let value = rocksdb_iter_value(iterator, &valueLength)
                    self.readBuffer.withUnsafeMutableBytes { buffer in
                        buffer.baseAddress!.copyMemory(from: value!, byteCount: min(valueLength, buffer.count))
                    }
                    self.checksum &+= valueLength
                    rocksdb_iter_next(iterator)
                }
                var error: UnsafeMutablePointer<CChar>?
                rocksdb_iter_get_error(iterator, &error)
                try self.check(error)
            }
        }
    }
}
