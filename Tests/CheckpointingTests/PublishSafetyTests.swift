import Checkpointing
import Foundation
import KeyedState
import StateCore
import StateTestSupport
import Testing

/// Checkpoint ids only grow: publishing an id that is already complete (or damaged) is refused before anything
/// is written or deleted, the storage gives the next id, and a backend can number its checkpoints itself.
@Suite struct PublishSafetyTests {
    /// The README's example run three times: open with `restore: .latest`, count, `checkpoint()`, close. Each run
    /// sees the previous runs' count (before: the second run re-published checkpoint 1 and the third failed).
    @Test(arguments: Setup.all)
    func theReadmeExampleRunsAgainAndAgain(setup: Setup) throws {
        let scratch = Scratch()
        for run in 1...3 {
            let storage = try CheckpointStorage(root: scratch.root)
            let backend = try scratch.open(setup, storage: storage, restore: .latest)
            let count = try backend.state.valueState(ValueStateDescriptor("count", serializer: .int64))
            try backend.state.setCurrentKey(42)
            #expect(try count.value() == (run == 1 ? nil : Int64(run - 1)), "run \(run) restored the wrong count")
            try count.update((try count.value() ?? 0) + 1)
            let id = try backend.checkpoint()
            #expect(id == Int64(run))
            try backend.close()
            storage.close()
        }
    }

    @Test func publishingACompletedIdAgainIsRefusedAndDestroysNothing() throws {
        let scratch = Scratch()
        try scratch.seededRoot()
        let storage = try CheckpointStorage(root: scratch.root, retained: 2)
        defer { storage.close() }
        #expect(storage.nextCheckpointID == 3)
        let before = TemporaryDirectory.files(under: scratch.root)
        let backend = try scratch.open(Setup.all[0], storage: storage, restore: .latest)
        let states = try CheckpointWorkload.register(backend.state)
        var workload = CheckpointWorkload(seed: 5)
        for _ in 0..<50 { try workload.step(states) }
        for id: Int64 in [2, 1] {
            let error = try #require(throws: CheckpointError.self) { try backend.checkpoint(id) }
            #expect(error.code == .duplicate, "\(error)")
            #expect(error.message.contains("checkpoint \(id)") && error.message.contains("nextCheckpointID (3)"), "\(error.message)")
        }
        try backend.checkpoint()
        try backend.close()
        storage.waitForCleanup()
        // Checkpoint 2 is still complete and restorable, checkpoint 1 was subsumed by 3 as retention says.
        #expect(storage.completedCheckpoints == [2, 3])
        #expect(before.contains("chk-2/_metadata"))
        let reopened = try scratch.open(Setup.all[0], storage: storage, restore: .checkpoint(2), work: scratch.work + "-2")
        try reopened.close()
    }

    @Test func aDamagedCheckpointsIdIsNeverPublishedAgain() throws {
        let scratch = Scratch()
        try scratch.seededRoot()
        let metadata = scratch.root + "/chk-2/_metadata"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: metadata))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: metadata))
        let storage = try CheckpointStorage(root: scratch.root, retained: 2)
        defer { storage.close() }
        #expect(storage.completedCheckpoints == [1])
        #expect(storage.nextCheckpointID == 3, "the damaged chk-2 counts: the next id is above it")
        let backend = try scratch.open(Setup.all[0], storage: storage, restore: .checkpoint(1))
        let error = try #require(throws: CheckpointError.self) { try backend.checkpoint(2) }
        #expect(error.code == .duplicate && error.message.contains("damaged"), "\(error.message)")
        try backend.close()
        #expect(try Data(contentsOf: URL(fileURLWithPath: metadata)) == bytes.prefix(bytes.count / 2), "the damaged metadata was touched")
    }

    @Test func clearRemovesEveryCheckpointAndSharedFileUnderTheLock() throws {
        let scratch = Scratch()
        try scratch.seededRoot()
        let storage = try CheckpointStorage(root: scratch.root, retained: 2)
        defer { storage.close() }
        try storage.clear()
        #expect(storage.completedCheckpoints.isEmpty)
        #expect(storage.nextCheckpointID == 3)
        #expect(TemporaryDirectory.files(under: scratch.root).filter { $0 != "_lock" }.isEmpty)
    }
}
