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
    /// sort's tie-break), on top of a database that already holds values; written in several chunks. The result
    /// equals the in-order replay on the heap, and repeated writes of a key collapse.
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

        let directory = NSTemporaryDirectory() + "weir-table-replay-\(getpid())-\(seed)"
        try? FileManager.default.removeItem(atPath: directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/tables", withIntermediateDirectories: true)
        let replayed = try KeyedStateBackend<Int64>.rocksDB(directory: directory + "/db", keySerializer: .int64)
        defer { try? replayed.close() }
        try replayed.openRestoredColumns([
            ReplayCompactorTests.metadata("v", .value), ReplayCompactorTests.metadata("l", .list),
            ReplayCompactorTests.metadata("m", .map),
        ])
        try replayed.applyRaw(base)
        var chunk = TableReplay()
        var written = 0
        for (index, change) in changes.enumerated() {
            // One section per change: key then value.
            let bytes = change.key + change.value
            chunk.add(
                ChangelogSegment.RecordSpan(
                    sqn: UInt64(index), kind: change.kind, column: change.column, primaryLength: change.primaryLength,
                    keyOffset: 0, keyCount: change.key.count, valueOffset: change.key.count,
                    valueCount: change.value.count),
                of: bytes)
            if index % 12_000 == 11_999 { written += try chunk.write(into: replayed, directory: directory + "/tables") }
        }
        written += try chunk.write(into: replayed, directory: directory + "/tables")
        #expect(chunk.filesIngested >= 6, "three chunks, each in two halves with a file per state")
        #expect(try ReplayCompactorTests.contents(replayed) == ReplayCompactorTests.contents(inOrder))
        #expect(written < changes.count, "repeated writes of a key collapse")
    }
}
