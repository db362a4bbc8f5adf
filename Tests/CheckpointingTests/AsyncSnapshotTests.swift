@testable import Checkpointing
import StateCore
import StateTestSupport
import Testing

/// Snapshots with an asynchronous part (`startSnapshot`): the incremental strategy uploads a RocksDB checkpoint's
/// new files on a background thread while the owner goes on changing state.
@Suite struct AsyncSnapshotTests {
    static let incremental = Setup(strategy: .incremental, heap: false)

    /// Three checkpoints, each published only after changes made while its upload ran (and the second's
    /// metadata after the third started): each restores to exactly the state at its synchronous part.
    @Test(arguments: [UInt64(1), 2, 3])
    func changesAfterTheSynchronousPartAreNotInTheSnapshot(seed: UInt64) throws {
        let scratch = Scratch()
        var workload = CheckpointWorkload(seed: seed, keys: 400)
        var atCheckpoint: [Int64: CheckpointWorkload] = [:]
        do {
            let storage = try CheckpointStorage(root: scratch.root, retained: 5)
            defer { storage.close() }
            let backend = try scratch.open(Self.incremental, storage: storage)
            let states = try CheckpointWorkload.register(backend.state)
            for id: Int64 in 1...3 {
                for _ in 0..<800 { try workload.step(states) }
                let pending = try backend.startSnapshot(checkpointID: id)
                atCheckpoint[id] = workload
                for _ in 0..<800 { try workload.step(states) }
                let handle = try pending.wait()
                #expect(handle.materialization?.files.isEmpty == false)
                try storage.publish(CheckpointMetadata(checkpointID: id, timestampMilliseconds: id, backends: [handle]))
                backend.notifyCheckpointComplete(id)
            }
            try backend.close()
        }
        let storage = try CheckpointStorage(root: scratch.root, retained: 5)
        defer { storage.close() }
        for (id, expected) in atCheckpoint.sorted(by: { $0.key < $1.key }) {
            let restored = try scratch.open(
                Self.incremental, storage: storage, restore: .checkpoint(id), work: scratch.work + "-\(id)")
            let states = try CheckpointWorkload.register(restored.state)
            #expect(try expected.read(states) == expected.model, "checkpoint \(id)")
            try restored.close()
        }
    }

    /// The other strategies finish in their synchronous part.
    @Test func changelogAndFullSnapshotsFinishAtOnce() throws {
        for setup in [Setup.all[0], Setup.all[3]] {
            let scratch = Scratch()
            let storage = try CheckpointStorage(root: scratch.root)
            defer { storage.close() }
            let backend = try scratch.open(setup, storage: storage)
            var workload = CheckpointWorkload(seed: 4)
            let states = try CheckpointWorkload.register(backend.state)
            for _ in 0..<100 { try workload.step(states) }
            let pending = try backend.startSnapshot(checkpointID: 1)
            #expect(pending.current != nil, "\(setup.testDescription)")
            backend.notifyCheckpointAborted(1)
            try backend.close()
        }
    }

    /// A full disk during the upload fails that checkpoint only, through the pending snapshot (and its
    /// callback): the error names the checkpoint, the previous checkpoint restores, and the next one succeeds.
    @Test func uploadFailureFailsOnlyThatCheckpoint() throws {
        let scratch = Scratch()
        let disk = FullDisk()
        let fileSystem = disk.fileSystem
        var workload = CheckpointWorkload(seed: 8)
        do {
            let storage = try CheckpointStorage(root: scratch.root, fileSystem: fileSystem)
            defer { storage.close() }
            let backend = try scratch.open(Self.incremental, storage: storage)
            let states = try CheckpointWorkload.register(backend.state)
            for _ in 0..<500 { try workload.step(states) }
            try backend.checkpoint(1)
            let atOne = workload
            for _ in 0..<500 { try workload.step(states) }
            disk.full.withLock { $0 = true }
            let pending = try backend.startSnapshot(checkpointID: 2)
            let called = Promise<CheckpointError?>()
            pending.whenFinished { result in
                if case .failure(let error) = result { called.fulfill(error) } else { called.fulfill(nil) }
            }
            #expect {
                _ = try pending.wait()
            } throws: { ($0 as? CheckpointError)?.code == .noSpace && ($0 as? CheckpointError)?.checkpointID == 2 }
            #expect(called.wait()?.checkpointID == 2)
            backend.notifyCheckpointAborted(2)
            storage.abort(2)
            disk.full.withLock { $0 = false }
            #expect(storage.completedCheckpoints == [1])
            let intact = try scratch.open(
                Self.incremental, storage: storage, restore: .latest, work: scratch.work + "-1")
            #expect(try atOne.read(try CheckpointWorkload.register(intact.state)) == atOne.model)
            try intact.close()
            for _ in 0..<100 { try workload.step(states) }
            try backend.checkpoint(3)
            try backend.close()
        }
        let storage = try CheckpointStorage(root: scratch.root, fileSystem: fileSystem)
        defer { storage.close() }
        let restored = try scratch.open(Self.incremental, storage: storage, restore: .latest, work: scratch.work + "-3")
        #expect(restored.restoreReport?.checkpointID == 3)
        #expect(try workload.read(try CheckpointWorkload.register(restored.state)) == workload.model)
        try restored.close()
    }
}
