import Foundation
import Checkpointing
import KeyedState
import StateCore
import StateTestSupport
import Synchronization
import Testing

/// Local rollback: a parked RocksDB backend is put back in place to the checkpoint the next open restores.
@Suite struct LocalRollbackTests {
    static let setups = [
        Setup(strategy: .changelog(materializationInterval: .zero, persistThreshold: 2_048), heap: false),
        Setup(strategy: .incremental, heap: false),
        Setup(strategy: .full, heap: false),
    ]

    func open(_ setup: Setup, _ scratch: Scratch, _ storage: CheckpointStorage, restore: RestoreSource = .empty, work: String? = nil)
        throws -> CheckpointedBackend<Int64>
    {
        try CheckpointedBackend.open(
            backendID: "op/0", storage: storage, workingDirectory: work ?? scratch.work, engine: setup.engine(),
            keySerializer: .int64, strategy: setup.strategy, restore: restore, localRollback: true)
    }

    /// The attempt fails: `backend` is parked, and the next attempt's backend opens at `checkpoint` in the same
    /// working directory (rolled back in place when the parked database can stand for it).
    func failAndReopen(
        _ backend: CheckpointedBackend<Int64>, _ setup: Setup, _ scratch: Scratch, _ storage: CheckpointStorage,
        at checkpoint: Int64
    ) throws -> CheckpointedBackend<Int64> {
        try backend.park()
        return try self.open(setup, scratch, storage, restore: .checkpoint(checkpoint))
    }

    /// Every change kind after checkpoint 1 (a completed checkpoint), a second checkpoint taken but never
    /// completed, more changes, then a failure: the parked database rolls back to exactly checkpoint 1, goes on
    /// checkpointing, and a normal restore elsewhere of the next checkpoint matches the model.
    @Test(arguments: Self.setups, [UInt64(1), 2, 3])
    func parkedBackendRollsBackToTheRestoredCheckpoint(setup: Setup, seed: UInt64) throws {
        let scratch = Scratch()
        let storage = try CheckpointStorage(root: scratch.root, retained: 3)
        defer { storage.close() }
        var workload = CheckpointWorkload(seed: seed, keys: 200)
        let backend = try self.open(setup, scratch, storage)
        var states = try CheckpointWorkload.register(backend.state)
        for _ in 0..<1_500 { try workload.step(states) }
        if setup.strategy.kind == .changelog { try backend.materializeNow() }
        for _ in 0..<300 { try workload.step(states) }
        try backend.checkpoint(1)
        let atOne = workload
        for _ in 0..<400 { try workload.step(states) }
        _ = try backend.snapshot(checkpointID: 2)  // taken, never completed
        for _ in 0..<400 { try workload.step(states) }
        try backend.park()

        let rolled = try self.open(setup, scratch, storage, restore: .checkpoint(1))
        let report = try #require(rolled.restoreReport)
        #expect(report.rolledBack)
        #expect(report.writtenRecords + report.deferredKeys > 0)
        #expect(report.fetchedBytes == 0 && report.replayedRecords == 0)
        states = try CheckpointWorkload.register(rolled.state)
        #expect(try atOne.read(states) == atOne.model)
        workload = atOne
        for _ in 0..<300 { try workload.step(states) }
        try rolled.checkpoint(3)
        try rolled.close()

        let elsewhere = try self.open(setup, scratch, storage, restore: .latest, work: scratch.work + "-elsewhere")
        #expect(elsewhere.restoreReport?.rolledBack == false)
        #expect(try workload.read(try CheckpointWorkload.register(elsewhere.state)) == workload.model)
        try elsewhere.close()
    }

    /// A second failure before any new checkpoint rolls back to the same checkpoint again.
    @Test func repeatedFailuresRollBackToTheSameCheckpoint() throws {
        let scratch = Scratch()
        let setup = Self.setups[0]
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        var workload = CheckpointWorkload(seed: 12, keys: 150)
        var backend = try self.open(setup, scratch, storage)
        var states = try CheckpointWorkload.register(backend.state)
        for _ in 0..<600 { try workload.step(states) }
        try backend.checkpoint(1)
        let atOne = workload
        for round in 0..<3 {
            for _ in 0..<(200 + 100 * round) { try workload.step(states) }
            backend = try self.failAndReopen(backend, setup, scratch, storage, at: 1)
            #expect(backend.restoreReport?.rolledBack == true, "round \(round)")
            states = try CheckpointWorkload.register(backend.state)
            #expect(try atOne.read(states) == atOne.model, "round \(round)")
            workload = atOne
        }
        try backend.close()
    }

    /// The rollback defers keys: they read at the checkpoint's snapshot until written again. The next attempt
    /// reads single keys (value, list; a map read settles only its column) and changes them (a list append onto
    /// a deferred key, too), fails again before any checkpoint (its deferred keys carry over into the next
    /// rollback), and finally checkpoints: every read, the state after the checkpoint, a rollback to that
    /// checkpoint after one more failure, and a restore elsewhere match the model.
    @Test(arguments: [UInt64(4), 5, 6])
    func deferredKeysReadAtTheCheckpointUntilWritten(seed: UInt64) throws {
        let scratch = Scratch()
        let storage = try CheckpointStorage(root: scratch.root, retained: 2)
        defer { storage.close() }
        var workload = CheckpointWorkload(seed: seed, keys: 300)
        var backend = try self.open(Self.setups[0], scratch, storage)
        var states = try CheckpointWorkload.register(backend.state)
        for _ in 0..<1_500 { try workload.step(states) }
        try backend.checkpoint(1)
        let atOne = workload
        var generator = SeededGenerator(seed: seed)
        for round in 0..<3 {
            for _ in 0..<(600 + 200 * round) { try workload.step(states) }
            backend = try self.failAndReopen(backend, Self.setups[0], scratch, storage, at: 1)
            let report = try #require(backend.restoreReport)
            #expect(report.rolledBack && report.deferredKeys > 0, "round \(round)")
            states = try CheckpointWorkload.register(backend.state)
            workload = atOne
            for step in 0..<(round == 2 ? 300 : 150) {
                try workload.step(states)
                let key = Int64.random(in: 0..<300, using: &generator)
                try states.backend.setCurrentKey(key)
                #expect(try states.value.value() == workload.model.values[key], "round \(round) step \(step) key \(key)")
                #expect(try states.list.get() == (workload.model.lists[key] ?? []), "round \(round) step \(step) key \(key)")
                if step == 100 {
                    let entries = try states.map.entries()
                    #expect(Dictionary(uniqueKeysWithValues: entries.map { ($0.0, $0.1) }) == (workload.model.maps[key] ?? [:]))
                }
            }
        }
        // Checkpoint 2, the first after the rollback, leaves the keys still deferred alone and takes no rollback
        // point.
        let deferred = backend.state.deferredRollbackKeys
        #expect(deferred > 0)
        try backend.checkpoint(2)
        #expect(backend.state.deferredRollbackKeys == deferred)
        #expect(try workload.read(states) == workload.model)
        // A failure after checkpoint 2 restores it normally (no rollback point of it), to the same state.
        let atTwo = workload
        for _ in 0..<300 { try workload.step(states) }
        backend = try self.failAndReopen(backend, Self.setups[0], scratch, storage, at: 2)
        #expect(backend.restoreReport?.rolledBack == false)
        #expect(try atTwo.read(try CheckpointWorkload.register(backend.state)) == atTwo.model)
        workload = atTwo
        try backend.close()

        let elsewhere = try self.open(Self.setups[0], scratch, storage, restore: .latest, work: scratch.work + "-elsewhere")
        #expect(elsewhere.restoreReport?.rolledBack == false)
        #expect(try workload.read(try CheckpointWorkload.register(elsewhere.state)) == workload.model)
        try elsewhere.close()
    }

    /// Checkpoints after a rollback leave the deferred keys alone while the records reprocessed keep rewriting them,
    /// for at most `maxPostponedSettles` checkpoints, and take no rollback point meanwhile: a failure before the
    /// first of them completes rolls back to the older checkpoint in place, exactly. The checkpoint after them
    /// writes the rest back and takes a rollback point again, which the next failure rolls back to. Each
    /// checkpoint restores elsewhere (after the last close) to the model.
    @Test(arguments: [UInt64(7), 8, 9])
    func checkpointsAfterARollbackLeaveDeferredKeysAlone(seed: UInt64) throws {
        let scratch = Scratch()
        let setup = Self.setups[0]
        let storage = try CheckpointStorage(root: scratch.root, retained: 10)
        defer { storage.close() }
        var workload = CheckpointWorkload(seed: seed, keys: 2_000)
        var backend = try self.open(setup, scratch, storage)
        var states = try CheckpointWorkload.register(backend.state)
        for _ in 0..<4_000 { try workload.step(states) }
        try backend.checkpoint(1)
        let atOne = workload
        for _ in 0..<2_000 { try workload.step(states) }
        backend = try self.failAndReopen(backend, setup, scratch, storage, at: 1)
        #expect(backend.restoreReport?.rolledBack == true)
        states = try CheckpointWorkload.register(backend.state)
        workload = atOne

        // Checkpoint 2 is taken while keys are deferred and never completes: they stay deferred, and the failure
        // after it rolls back to checkpoint 1 in place, with every change since (before and after 2) undone.
        for _ in 0..<200 { try workload.step(states) }
        let deferred = backend.state.deferredRollbackKeys
        #expect(deferred > 0)
        _ = try backend.snapshot(checkpointID: 2)
        #expect(backend.state.deferredRollbackKeys == deferred)
        for _ in 0..<300 { try workload.step(states) }
        backend = try self.failAndReopen(backend, setup, scratch, storage, at: 1)
        #expect(backend.restoreReport?.rolledBack == true)
        states = try CheckpointWorkload.register(backend.state)
        #expect(try atOne.read(states) == atOne.model)
        workload = atOne

        // Checkpoints 3… complete. The rule, kept here as the model: a checkpoint leaves the keys alone while some
        // are deferred, fewer than at the last checkpoint that left them, and fewer than the limit have.
        var postponed = 0
        var lastDeferred = Int.max
        var id: Int64 = 3
        var completed: [(Int64, CheckpointWorkload)] = []
        while true {
            for _ in 0..<150 { try workload.step(states) }
            let before = backend.state.deferredRollbackKeys
            let limit = CheckpointedBackend<Int64>.maxPostponedSettles
            let leaves = before > 0 && before < lastDeferred && postponed < limit
            try backend.checkpoint(id)
            #expect(backend.state.deferredRollbackKeys == (leaves ? before : 0), "checkpoint \(id)")
            completed.append((id, workload))
            id += 1
            guard leaves else { break }
            postponed += 1
            lastDeferred = before
        }
        #expect(postponed >= 1)
        // The checkpoint that wrote the rest back took a rollback point: a failure rolls back to it in place.
        let atLast = workload
        for _ in 0..<300 { try workload.step(states) }
        backend = try self.failAndReopen(backend, setup, scratch, storage, at: id - 1)
        #expect(backend.restoreReport?.rolledBack == true)
        #expect(try atLast.read(try CheckpointWorkload.register(backend.state)) == atLast.model)
        try backend.close()
        for (id, model) in completed {
            let elsewhere = try self.open(
                setup, scratch, storage, restore: .checkpoint(id), work: scratch.work + "-\(id)")
            #expect(try model.read(try CheckpointWorkload.register(elsewhere.state)) == model.model, "checkpoint \(id)")
            try elsewhere.close()
        }
    }

    /// A parked backend that cannot stand for the checkpoint restored (its snapshot was released when a newer
    /// checkpoint completed) is closed and the checkpoint restored normally.
    @Test func parkedBackendWithoutThatSnapshotRestoresNormally() throws {
        let scratch = Scratch()
        let setup = Self.setups[0]
        let storage = try CheckpointStorage(root: scratch.root, retained: 3)
        defer { storage.close() }
        var workload = CheckpointWorkload(seed: 9, keys: 100)
        let backend = try self.open(setup, scratch, storage)
        let states = try CheckpointWorkload.register(backend.state)
        for _ in 0..<500 { try workload.step(states) }
        try backend.checkpoint(1)
        let atOne = workload
        for _ in 0..<500 { try workload.step(states) }
        try backend.checkpoint(2)
        for _ in 0..<100 { try workload.step(states) }
        let restored = try self.failAndReopen(backend, setup, scratch, storage, at: 1)
        #expect(restored.restoreReport?.rolledBack == false)
        #expect(try atOne.read(try CheckpointWorkload.register(restored.state)) == atOne.model)
        try restored.close()
    }

    /// Without local rollback, parking is closing.
    @Test func parkWithoutLocalRollbackCloses() throws {
        let scratch = Scratch()
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        let backend = try scratch.open(Self.setups[0], storage: storage)
        var workload = CheckpointWorkload(seed: 4)
        for _ in 0..<100 { try workload.step(try CheckpointWorkload.register(backend.state)) }
        try backend.checkpoint(1)
        try backend.park()
        let restored = try scratch.open(Self.setups[0], storage: storage, restore: .latest)
        #expect(restored.restoreReport?.rolledBack == false)
        #expect(try workload.read(try CheckpointWorkload.register(restored.state)) == workload.model)
        try restored.close()
    }

    /// A failed attempt's database retires on a thread of its own: its directory is not reopened until the close
    /// has finished (the next open takes the other one), it is deleted afterwards, and a directory nothing retires
    /// in (a crash's leftover) is deleted when the other is chosen.
    @Test func retiringDatabaseDirectoryIsNotReusedUntilClosed() throws {
        let scratch = Scratch()
        let fileSystem = LocalFileSystem()
        let work = scratch.work
        try fileSystem.createDirectory(work + "/db")
        try fileSystem.write([1, 2, 3], to: work + "/db/000001.sst", sync: false)
        let closing = DispatchSemaphore(value: 0)
        let closed = Atomic<Bool>(false)
        RetiredDatabases.shared.retire(directory: work + "/db", fileSystem: fileSystem) {
            closing.wait()
            closed.store(true, ordering: .relaxed)
        }
        #expect(RetiredDatabases.shared.directory(in: work, fileSystem: fileSystem) == work + "/db-1")
        #expect(fileSystem.exists(work + "/db/000001.sst"))
        closing.signal()
        RetiredDatabases.shared.waitAll(under: work + "/")
        let wasClosed = closed.load(ordering: .relaxed)
        #expect(wasClosed)
        #expect(!fileSystem.exists(work + "/db"))
        try fileSystem.createDirectory(work + "/db-1")
        #expect(RetiredDatabases.shared.directory(in: work, fileSystem: fileSystem) == work + "/db")
        #expect(!fileSystem.exists(work + "/db-1"))
    }
}
