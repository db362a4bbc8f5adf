@testable import Checkpointing
import Foundation
@testable import KeyedState
import StateCore
import StateTestSupport
import Testing

/// Replaying through table files must leave exactly the state that applying every change in order leaves.
@Suite struct TableReplayTests {
    /// Seeded changes of every kind (puts, deletes, list appends, map puts/deletes and clears) over keys that
    /// spread across key groups (so chunks split into two halves) and include keys longer than 16 bytes (the
    /// sort's tie-break), on top of a database that already holds values; added newest section first and written
    /// in several chunks of several sections. The result equals the in-order replay on the heap, and repeated
    /// writes of a key collapse.
    @Test(arguments: [UInt64(1), 2, 3])
    func tableReplayEqualsInOrderReplay(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        func primary() -> [UInt8] {
            let group = [UInt8.random(in: 0..<2, using: &generator), UInt8.random(in: 0...255, using: &generator)]
            let long = Bool.random(using: &generator)
            // Short keys differ early; long ones share 16 bytes and differ after them.
            return long ? group + [UInt8](repeating: 7, count: 14) + [UInt8.random(in: 0..<3, using: &generator)]
                : group + [UInt8.random(in: 0..<3, using: &generator)]
        }
        func change() -> RawStateChange {
            let key = primary()
            let value = [UInt8.random(in: 0...255, using: &generator), 1]
            switch Int.random(in: 0..<11, using: &generator) {
            case 0..<3: return RawStateChange(kind: .put, column: 0, key: key, primaryLength: key.count, value: value)
            case 3: return RawStateChange(kind: .delete, column: 0, key: key, primaryLength: key.count, value: [])
            case 4, 5: return RawStateChange(kind: .append, column: 1, key: key, primaryLength: key.count, value: value)
            case 6: return RawStateChange(kind: .put, column: 1, key: key, primaryLength: key.count, value: value + value)
            case 7: return RawStateChange(kind: .delete, column: 1, key: key, primaryLength: key.count, value: [])
            case 8:
                let entry = key + [UInt8.random(in: 0..<3, using: &generator)]
                return RawStateChange(kind: .put, column: 2, key: entry, primaryLength: key.count, value: value)
            case 9:
                let entry = key + [UInt8.random(in: 0..<3, using: &generator)]
                return RawStateChange(kind: .delete, column: 2, key: entry, primaryLength: key.count, value: [])
            default: return RawStateChange(kind: .deletePrefix, column: 2, key: key, primaryLength: key.count, value: [])
            }
        }
        let base = (0..<3_000).map { _ in change() }.filter { $0.kind != .deletePrefix }
        let changes = (0..<30_000).map { _ in change() }

        let inOrder = try ReplayCompactorTests.backend()
        try inOrder.applyRaw(base)
        try inOrder.applyRaw(changes)

        let (replayed, tables) = try Self.target("weir-table-replay-\(getpid())-\(seed)")
        defer { Self.remove(replayed, tables) }
        try replayed.applyRaw(base)
        var chunk = TableReplay()
        var written = 0
        // Sections of 1,000 changes, newest first; a chunk every 12 sections.
        for (number, first) in stride(from: 0, to: changes.count, by: 1_000).reversed().enumerated() {
            chunk.beginSection()
            for index in first..<first + 1_000 {
                Self.add(changes[index], sqn: UInt64(index), to: &chunk)
            }
            if number % 12 == 11 { written += try chunk.flush(into: replayed, directory: tables) }
        }
        written += try chunk.finish(into: replayed, directory: tables)
        #expect(chunk.filesIngested >= 6, "three chunks, each in two halves with a file per state")
        #expect(try ReplayCompactorTests.contents(replayed) == ReplayCompactorTests.contents(inOrder))
        #expect(written < changes.count, "repeated writes of a key collapse")
    }

    /// A key put in every chunk is written once, by the newest chunk: older chunks leave out the keys newer ones
    /// settled. Appends settle nothing, so each chunk writes its operand. Keys longer than 16 bytes are compared
    /// in full.
    @Test func olderChunksLeaveOutKeysNewerChunksSettled() throws {
        let keys = (0..<5_000).map { index -> [UInt8] in
            let group = [UInt8(index % 3), UInt8(index % 251)]
            let body = withUnsafeBytes(of: UInt32(index).bigEndian, Array.init)
            return index % 2 == 0 ? group + body : group + [UInt8](repeating: 9, count: 14) + body
        }
        let (replayed, tables) = try Self.target("weir-table-settled-\(getpid())")
        defer { Self.remove(replayed, tables) }
        var inOrder: [RawStateChange] = []
        for round in 0..<3 {
            for key in keys {
                inOrder.append(RawStateChange(kind: .put, column: 0, key: key, primaryLength: key.count, value: [UInt8(round)]))
                inOrder.append(RawStateChange(kind: .append, column: 1, key: key, primaryLength: key.count, value: [UInt8(round)]))
            }
        }
        var chunk = TableReplay()
        var written = 0
        for round in (0..<3).reversed() {
            chunk.beginSection()
            let first = round * keys.count * 2
            for index in first..<first + keys.count * 2 { Self.add(inOrder[index], sqn: UInt64(index), to: &chunk) }
            written += try chunk.flush(into: replayed, directory: tables)
        }
        written += try chunk.finish(into: replayed, directory: tables)
        let expected = try ReplayCompactorTests.backend()
        try expected.applyRaw(inOrder)
        #expect(try ReplayCompactorTests.contents(replayed) == ReplayCompactorTests.contents(expected))
        #expect(written == keys.count + 3 * keys.count, "each put key once, each chunk's operand of every list")
    }

    /// A fresh RocksDB backend with the three test states (value, list, map) in a temporary directory named
    /// `name`, and an empty table-file directory beside its database.
    private static func target(_ name: String) throws -> (KeyedStateBackend<Int64>, tables: String) {
        let directory = NSTemporaryDirectory() + name
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory + "/tables", withIntermediateDirectories: true)
        let backend = try KeyedStateBackend<Int64>.rocksDB(directory: directory + "/db", keySerializer: .int64)
        try backend.openRestoredColumns([
            ReplayCompactorTests.metadata("v", .value), ReplayCompactorTests.metadata("l", .list),
            ReplayCompactorTests.metadata("m", .map),
        ])
        return (backend, directory + "/tables")
    }

    /// Closes a `target` backend and removes its directory.
    private static func remove(_ backend: KeyedStateBackend<Int64>, _ tables: String) {
        try? backend.close()
        try? FileManager.default.removeItem(atPath: (tables as NSString).deletingLastPathComponent)
    }

    /// Adds one change as a record of its own section bytes (key, then value).
    private static func add(_ change: RawStateChange, sqn: UInt64, to chunk: inout TableReplay) {
        chunk.add(
            ChangelogSegment.RecordSpan(
                sqn: sqn, kind: change.kind, column: change.column, primaryLength: change.primaryLength,
                keyOffset: 0, keyCount: change.key.count, valueOffset: change.key.count, valueCount: change.value.count),
            of: change.key + change.value)
    }
}
