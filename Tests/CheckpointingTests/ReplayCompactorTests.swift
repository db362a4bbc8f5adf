@testable import Checkpointing
@testable import KeyedState
import StateCore
import Testing

/// Collapsing a replay must leave exactly the state that applying every change in order leaves.
@Suite struct ReplayCompactorTests {
    static func metadata(_ name: String, _ kind: StateKind) -> StateMetadata {
        let schema = SerializerSchema(name: "weir.int64", version: 1)
        return StateMetadata(
            name: name, kind: kind, keySchema: schema, namespaceSchema: SerializerSchema(name: "weir.void", version: 1),
            valueSchema: schema, userKeySchema: kind == .map ? schema : nil, ttl: nil, valueSeparation: nil)
    }

    static func backend() throws -> KeyedStateBackend<Int64> {
        let backend = KeyedStateBackend<Int64>.heap(keySerializer: .int64)
        try backend.openRestoredColumns([Self.metadata("v", .value), Self.metadata("l", .list), Self.metadata("m", .map)])
        return backend
    }

    static func contents(_ backend: KeyedStateBackend<Int64>) throws -> [[[UInt8]: [UInt8]]] {
        try (0..<3).map { column in
            var entries: [[UInt8]: [UInt8]] = [:]
            try backend.forEachRawEntry(column: column) { key, value in
                var key = key
                var value = value
                entries[key.readRemainingBytes()] = value.readRemainingBytes()
                return true
            }
            return entries
        }
    }

    @Test(arguments: [UInt64(1), 2, 3, 4])
    func compactedReplayEqualsInOrderReplay(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        var changes: [RawStateChange] = []
        for _ in 0..<3_000 {
            let primary: [UInt8] = [0, UInt8.random(in: 0..<4, using: &generator), UInt8.random(in: 0..<6, using: &generator)]
            let value = [UInt8.random(in: 0...255, using: &generator)]
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<3: changes.append(RawStateChange(kind: .put, column: 0, key: primary, primaryLength: 3, value: value))
            case 3: changes.append(RawStateChange(kind: .delete, column: 0, key: primary, primaryLength: 3, value: []))
            case 4: changes.append(RawStateChange(kind: .append, column: 1, key: primary, primaryLength: 3, value: value))
            case 5: changes.append(RawStateChange(kind: .put, column: 1, key: primary, primaryLength: 3, value: value + value))
            case 6: changes.append(RawStateChange(kind: .delete, column: 1, key: primary, primaryLength: 3, value: []))
            case 7:
                let entry = primary + [UInt8.random(in: 0..<3, using: &generator)]
                changes.append(RawStateChange(kind: .put, column: 2, key: entry, primaryLength: 3, value: value))
            case 8:
                let entry = primary + [UInt8.random(in: 0..<3, using: &generator)]
                changes.append(RawStateChange(kind: .delete, column: 2, key: entry, primaryLength: 3, value: []))
            default: changes.append(RawStateChange(kind: .deletePrefix, column: 2, key: primary, primaryLength: 3, value: []))
            }
        }
        let inOrder = try Self.backend()
        try inOrder.applyRaw(changes)

        let compacted = try Self.backend()
        var compactor = ReplayCompactor()
        var written = 0
        for (index, change) in changes.enumerated() {
            compactor.add(change)
            if index % 500 == 499 {
                let ordered = compactor.takeOrdered()
                written += ordered.count
                try compacted.applyRaw(ordered)
            }
        }
        let ordered = compactor.takeOrdered()
        let pending = compactor.takePending()
        try compacted.applyRaw(ordered)
        try compacted.applyRaw(pending)
        written += ordered.count + pending.count
        #expect(try Self.contents(compacted) == Self.contents(inOrder))
        #expect(written < changes.count, "repeated writes of a key collapse")
    }
}

/// A changelog with more distinct keys than the replay compactor holds at once restores exactly.
@Suite struct LongReplayTests {
    @Test func replayBeyondThePendingBoundRestoresEveryKey() throws {
        let scratch = Scratch()
        let setup = Setup(strategy: .changelog(materializationInterval: .seconds(3_600)), heap: false)
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        let backend = try scratch.open(setup, storage: storage)
        let count = try backend.state.valueState(ValueStateDescriptor("count", serializer: .int64))
        let keys: Int64 = 150_000
        for round in 0..<2 as Range<Int64> {
            for key in 0..<keys where round == 0 || key % 3 == 0 {
                try backend.state.setCurrentKey(key)
                try count.update(key * 10 + round)
            }
        }
        try backend.checkpoint(1)
        try backend.close()

        let restored = try scratch.open(setup, storage: storage, restore: .latest, work: scratch.directory.appending("work2"))
        let report = try #require(restored.restoreReport)
        #expect(report.replayedRecords == Int(keys + (keys + 2) / 3))
        let again = try restored.state.valueState(ValueStateDescriptor("count", serializer: .int64))
        for key in stride(from: 0, to: keys, by: 7) {
            try restored.state.setCurrentKey(key)
            #expect(try again.value() == key * 10 + (key % 3 == 0 ? 1 : 0))
        }
        try restored.close()
    }
}
