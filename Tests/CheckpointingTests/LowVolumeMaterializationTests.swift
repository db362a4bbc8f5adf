import Checkpointing
import Foundation
import KeyedState
import StateCore
import StateTestSupport
import Testing

/// A standalone backend with a few changes per checkpoint still materializes on time (before: only every 1,024
/// changes was the interval checked, so its changelog grew without bound).
@Suite struct LowVolumeMaterializationTests {
    @Test(arguments: [false, true])
    func aQuietBackendMaterializesAtCheckpoints(heap: Bool) throws {
        let scratch = Scratch()
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        let backend = try CheckpointedBackend<Int64>.open(
            backendID: "op/0", storage: storage, workingDirectory: scratch.work, engine: heap ? .heap : .rocksDB(),
            keySerializer: .int64, strategy: .changelog(materializationInterval: .milliseconds(50)))
        let count = try backend.state.valueState(ValueStateDescriptor("count", serializer: .int64))
        var materializations = Set<Int64>()
        var lastSQN: UInt64 = 0
        for round in 0..<12 {
            for key in Int64(0)..<5 {
                try backend.state.setCurrentKey(key)
                try count.update(Int64(round))
            }
            let id = try backend.checkpoint()
            let handle = try #require(storage.latest?.backends.first)
            #expect(storage.latest?.checkpointID == id)
            if let materialization = handle.materialization {
                materializations.insert(materialization.id)
                lastSQN = materialization.sqn
            }
            Thread.sleep(forTimeInterval: 0.03)
        }
        try backend.close()
        // 60 changes over ~0.4 s with a 50 ms interval: several materializations, the last one recent.
        #expect(materializations.count >= 2, "materializations seen: \(materializations.sorted())")
        #expect(lastSQN >= 30, "the newest materialization covers SQN \(lastSQN) of 60")
    }

    /// A restore that continues a changelog tail materializes `Limits.materializationAfterRestore` after it, not
    /// a whole interval later (before: every restore started the interval again, so failures more frequent than
    /// it starved materialization; the soak's root grew to 7 GiB in 10 minutes with a failure every 30 s).
    @Test func aRestoredChangelogTailMaterializesSoonAfterTheRestore() throws {
        let scratch = Scratch()
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        let strategy = SnapshotStrategy.changelog(materializationInterval: .seconds(3_600))
        func open(_ restore: RestoreSource) throws -> CheckpointedBackend<Int64> {
            try CheckpointedBackend<Int64>.open(
                backendID: "op/0", storage: storage, workingDirectory: scratch.work, engine: .rocksDB(),
                keySerializer: .int64, strategy: strategy, restore: restore)
        }
        let first = try open(.empty)
        let count = try first.state.valueState(ValueStateDescriptor("count", serializer: .int64))
        for key in Int64(0)..<100 {
            try first.state.setCurrentKey(key)
            try count.update(key)
        }
        try first.checkpoint()
        try first.close()
        #expect(storage.latest?.backends.first?.materialization == nil)
        let restored = try open(.latest)
        defer { try? restored.close() }
        let start = ContinuousClock.now
        let restoredCount = try restored.state.valueState(ValueStateDescriptor("count", serializer: .int64))
        var materializedAfter: Duration?
        var round = Int64(0)
        while materializedAfter == nil, ContinuousClock.now - start < .seconds(20) {
            round += 1
            try restored.state.setCurrentKey(round % 100)
            try restoredCount.update(round)
            try restored.checkpoint()
            if storage.latest?.backends.first?.materialization != nil { materializedAfter = ContinuousClock.now - start }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let after = try #require(materializedAfter, "no materialization within 20 s of the restore (interval 1 h)")
        #expect(after >= Limits.materializationAfterRestore, "materialized \(after) after the restore")
    }
}
