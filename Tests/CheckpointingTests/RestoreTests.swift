import Checkpointing
import Foundation
@testable import KeyedState
import StateCore
import StateTestSupport
import Testing

/// One strategy on one engine, for parameterized tests.
struct Setup: CustomTestStringConvertible, Sendable {
    var strategy: SnapshotStrategy
    var heap: Bool
    var testDescription: String { "\(self.strategy.kind.rawValue)/\(self.heap ? "heap" : "rocksDB")" }

    func engine() -> CheckpointedBackend<Int64>.Engine { self.heap ? .heap : .rocksDB() }

    static let all: [Setup] = [
        Setup(strategy: .changelog(materializationInterval: .zero, persistThreshold: 2_048), heap: false),
        Setup(strategy: .changelog(materializationInterval: .zero, persistThreshold: 2_048), heap: true),
        Setup(strategy: .incremental, heap: false),
        Setup(strategy: .full, heap: false),
        Setup(strategy: .full, heap: true),
    ]
}

/// A checkpoint root and working directory that go away after the test.
final class Scratch {
    let directory = TemporaryDirectory(prefix: "weir-ckpt")
    var root: String { self.directory.appending("root") }
    var work: String { self.directory.appending("work") }
    deinit { self.directory.remove() }

    /// A root (retained 2) with checkpoint 1 after 400 steps of the seeded workload, a materialization, and
    /// checkpoint 2 after 400 more; returns the model at each checkpoint.
    @discardableResult
    func seededRoot() throws -> (atOne: CheckpointWorkload.Model, atTwo: CheckpointWorkload.Model) {
        let storage = try CheckpointStorage(root: self.root, retained: 2)
        defer { storage.close() }
        let backend = try self.open(Setup.all[0], storage: storage)
        let states = try CheckpointWorkload.register(backend.state)
        var workload = CheckpointWorkload(seed: 31)
        for _ in 0..<400 { try workload.step(states) }
        try backend.checkpoint(1)
        let atOne = workload.model
        try backend.materializeNow()
        for _ in 0..<400 { try workload.step(states) }
        try backend.checkpoint(2)
        try backend.close()
        storage.waitForCleanup()
        return (atOne, workload.model)
    }

    func open(
        _ setup: Setup, storage: CheckpointStorage, restore: RestoreSource = .empty, work: String? = nil
    ) throws -> CheckpointedBackend<Int64> {
        try CheckpointedBackend.open(
            backendID: "op/0", storage: storage, workingDirectory: work ?? self.work, engine: setup.engine(),
            keySerializer: .int64, strategy: setup.strategy, restore: restore)
    }
}

@Suite struct RestoreTests {
    /// Random changes, checkpoints at random points (and materializations in between for the changelog): the
    /// latest checkpoint restores to exactly the model at that checkpoint, and changes after it are gone.
    @Test(arguments: Setup.all, [UInt64(1), 2])
    func latestCheckpointRestoresExactly(setup: Setup, seed: UInt64) throws {
        let scratch = Scratch()
        var workload = CheckpointWorkload(seed: seed)
        var atCheckpoint = workload
        var checkpointID: Int64 = 0
        do {
            let storage = try CheckpointStorage(root: scratch.root)
            defer { storage.close() }
            let backend = try scratch.open(setup, storage: storage)
            let states = try CheckpointWorkload.register(backend.state)
            var generator = SeededGenerator(seed: seed &+ 99)
            for round in 0..<6 {
                for _ in 0..<Int.random(in: 50..<400, using: &generator) { try workload.step(states) }
                if setup.strategy.kind == .changelog && round == 2 { try backend.materializeNow() }
                checkpointID += 1
                try backend.checkpoint(checkpointID)
                atCheckpoint = workload
            }
            for _ in 0..<100 { try workload.step(states) }
            #expect(try workload.read(states) == workload.model)
            try backend.close()
            // Closing drops what was uploaded after the last checkpoint: only its files remain.
            storage.waitForCleanup()
            let shared = Set(try storage.fileSystem.list(scratch.root + "/shared").map { "shared/\($0)" })
            #expect(shared == (try storage.metadata(checkpointID)).referencedPaths.filter { $0.hasPrefix("shared/") })
        }
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        #expect(storage.completedCheckpoints == [checkpointID])
        let restored = try scratch.open(setup, storage: storage, restore: .latest)
        let states = try CheckpointWorkload.register(restored.state)
        #expect(try workload.read(states) == atCheckpoint.model)
        #expect(restored.restoreReport?.checkpointID == checkpointID)
        workload = atCheckpoint
        // The restored backend goes on checkpointing from where it was.
        for _ in 0..<50 { try workload.step(states) }
        try restored.checkpoint(checkpointID + 1)
        try restored.close()
        let again = try scratch.open(setup, storage: storage, restore: .latest, work: scratch.work + "-2")
        #expect(try workload.read(try CheckpointWorkload.register(again.state)) == workload.model)
        try again.close()
    }

    /// A restore moves the old database aside and deletes it in the background once it is done; a directory a
    /// crash left set aside goes too. Afterwards only the restored database is in the working directory.
    @Test func oldDatabaseIsDeletedAfterTheRestore() throws {
        let scratch = Scratch()
        let (_, atTwo) = try scratch.seededRoot()  // leaves its closed database in work/db
        let leftover = scratch.work + "/db.aside-0123abcd"
        try FileManager.default.createDirectory(atPath: leftover, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: leftover + "/000042.sst", contents: Data([1, 2, 3])))
        let storage = try CheckpointStorage(root: scratch.root, retained: 2)
        defer { storage.close() }
        let backend = try scratch.open(Setup.all[0], storage: storage, restore: .latest)
        RetiredDatabases.shared.waitAll(under: scratch.work)
        let names = try FileManager.default.contentsOfDirectory(atPath: scratch.work)
        #expect(!names.contains { $0.contains(".aside-") }, "\(names)")
        #expect(names.contains("db"))
        #expect(try CheckpointWorkload(seed: 31).read(try CheckpointWorkload.register(backend.state)) == atTwo)
        try backend.close()
    }

    /// A changelog longer than the table-replay threshold (every change kind, on top of a materialization) is
    /// replayed through ingested table files and restores exactly; the backend serves reads and goes on.
    @Test func longChangelogReplaysThroughTableFiles() throws {
        let scratch = Scratch()
        let setup = Setup.all[0]
        var workload = CheckpointWorkload(seed: 5, keys: 2_000, valueBytes: 4_000)
        try Self.checkpointLongChangelog(scratch, setup, &workload)
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        let restored = try scratch.open(setup, storage: storage, restore: .latest, work: scratch.work + "-2")
        #expect((restored.restoreReport?.tableFiles ?? 0) > 0)
        let states = try CheckpointWorkload.register(restored.state)
        #expect(try workload.read(states) == workload.model)
        for _ in 0..<200 { try workload.step(states) }
        try restored.checkpoint(2)
        try restored.close()
        let again = try scratch.open(setup, storage: storage, restore: .latest, work: scratch.work + "-3")
        #expect(try workload.read(try CheckpointWorkload.register(again.state)) == workload.model)
        try again.close()
    }

    /// A long changelog holding a map clear that has no range deletion (its prefix, one 0xFF byte, has no
    /// successor; keyed state never writes one) cannot be replayed newest chunk first: the restore replays it in
    /// order instead, writes no table files, and restores exactly.
    @Test func clearWithoutRangeDeletionReplaysInOrder() throws {
        let scratch = Scratch()
        let setup = Setup.all[0]
        var workload = CheckpointWorkload(seed: 6, keys: 2_000, valueBytes: 4_000)
        try Self.checkpointLongChangelog(scratch, setup, &workload) { backend in
            let maps = backend.state.core.registrations.values.filter { $0.metadata.kind == .map }
            let column = try #require(maps.first?.column)
            try backend.state.core.store.deletePrefix(column, prefix: [0xFF])  // matches no stored key
        }
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        let restored = try scratch.open(setup, storage: storage, restore: .latest, work: scratch.work + "-2")
        #expect(restored.restoreReport?.tableFiles == 0)
        #expect(try workload.read(try CheckpointWorkload.register(restored.state)) == workload.model)
        try restored.close()
    }

    /// Writes checkpoint 1: 2,000 workload steps, a materialization, then 40,000 steps (a changelog longer than
    /// the table-replay threshold), with `midway` called after the first 20,000 of them.
    private static func checkpointLongChangelog(
        _ scratch: Scratch, _ setup: Setup, _ workload: inout CheckpointWorkload,
        midway: (CheckpointedBackend<Int64>) throws -> Void = { _ in }
    ) throws {
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        let backend = try scratch.open(setup, storage: storage)
        let states = try CheckpointWorkload.register(backend.state)
        for _ in 0..<2_000 { try workload.step(states) }
        try backend.materializeNow()
        for step in 0..<40_000 {
            if step == 20_000 { try midway(backend) }
            try workload.step(states)
        }
        let handle = try backend.checkpoint(1)
        #expect(handle.changelog.reduce(0) { $0 + $1.length } > 4 << 20)
        try backend.close()
    }

    @Test func changelogIsTruncatedAfterMaterialization() throws {
        let scratch = Scratch()
        let setup = Setup.all[0]
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        let backend = try scratch.open(setup, storage: storage)
        let states = try CheckpointWorkload.register(backend.state)
        var workload = CheckpointWorkload(seed: 7)
        var sizes: [Int] = []
        for id in Int64(1)...12 {
            for _ in 0..<300 { try workload.step(states) }
            if id % 3 == 0 { try backend.materializeNow() }
            let handle = try backend.checkpoint(id)
            if id % 3 == 0 { #expect(handle.changelog.isEmpty, "a fresh materialization leaves no changelog to keep") }
            storage.waitForCleanup()
            sizes.append(try storage.fileSystem.list(scratch.root + "/shared").count)
            for path in handle.referencedPaths { #expect(storage.fileSystem.exists(scratch.root + "/" + path)) }
        }
        // Shared files stay bounded: what the latest checkpoint references plus nothing else.
        let referenced = try storage.metadata(12).referencedPaths
        let shared = Set(try storage.fileSystem.list(scratch.root + "/shared").map { "shared/\($0)" })
        #expect(shared == referenced)
        #expect(sizes.last! <= sizes.max()!)
        try backend.close()
    }

    /// After an incremental restore, the next checkpoint references the restored SST files instead of uploading
    /// them again.
    @Test func incrementalRestoreReusesUploadedFiles() throws {
        let scratch = Scratch()
        let setup = Setup.all[2]
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        var workload = CheckpointWorkload(seed: 21, keys: 500)
        do {
            let backend = try scratch.open(setup, storage: storage)
            let states = try CheckpointWorkload.register(backend.state)
            for _ in 0..<3_000 { try workload.step(states) }
            try backend.checkpoint(1)
            try backend.close()
        }
        let restored = try scratch.open(setup, storage: storage, restore: .latest, work: scratch.work + "-2")
        let states = try CheckpointWorkload.register(restored.state)
        for _ in 0..<10 { try workload.step(states) }
        try restored.checkpoint(2)
        let stats = try #require(restored.lastMaterialization)
        #expect(stats.reusedBytes > 0)
        #expect(stats.uploadedBytes < stats.totalBytes)
        try restored.close()
        let again = try scratch.open(setup, storage: storage, restore: .latest, work: scratch.work + "-3")
        #expect(try workload.read(try CheckpointWorkload.register(again.state)) == workload.model)
        try again.close()
    }

    /// Restoring on the same machine links the local copy of the materialization instead of downloading it.
    @Test func localRecoveryReusesTheLocalMaterialization() throws {
        let scratch = Scratch()
        let setup = Setup.all[0]
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        var workload = CheckpointWorkload(seed: 3)
        do {
            let backend = try scratch.open(setup, storage: storage)
            let states = try CheckpointWorkload.register(backend.state)
            for _ in 0..<500 { try workload.step(states) }
            try backend.materializeNow()
            for _ in 0..<200 { try workload.step(states) }
            try backend.checkpoint(1)
            try backend.close()
        }
        let local = try scratch.open(setup, storage: storage, restore: .latest)
        let report = try #require(local.restoreReport)
        #expect(report.localBytes > 0)
        #expect(report.replayedRecords > 0)
        #expect(try workload.read(try CheckpointWorkload.register(local.state)) == workload.model)
        try local.close()
        let remote = try scratch.open(setup, storage: storage, restore: .latest, work: scratch.work + "-elsewhere")
        #expect(remote.restoreReport?.localBytes == 0)
        #expect((remote.restoreReport?.fetchedBytes ?? 0) > 0)
        #expect(try workload.read(try CheckpointWorkload.register(remote.state)) == workload.model)
        try remote.close()
    }

    /// A materialization adopted after the latest completed checkpoint does not take that checkpoint's local copy
    /// away: a failure before a checkpoint on the new one completes still restores from local files. The next
    /// completed checkpoint releases the older copy.
    @Test func localCopyOfTheCompletedCheckpointOutlivesANewerMaterialization() throws {
        let scratch = Scratch()
        let setup = Setup.all[0]
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        let localCopies = { () throws -> [String] in
            try LocalFileSystem().list(scratch.work + "/local").filter { $0.hasPrefix("mat-") }.sorted()
        }
        var workload = CheckpointWorkload(seed: 4)
        let atTwo: CheckpointWorkload.Model
        var second: [String] = []
        do {
            let backend = try scratch.open(setup, storage: storage)
            let states = try CheckpointWorkload.register(backend.state)
            for _ in 0..<500 { try workload.step(states) }
            try backend.materializeNow()
            try backend.checkpoint(1)
            let first = try localCopies()
            #expect(first.count == 1)
            for _ in 0..<200 { try workload.step(states) }
            try backend.materializeNow()
            #expect(try localCopies().count == 2, "checkpoint 1 still restores from the older copy")
            second = try localCopies().filter { !first.contains($0) }
            try backend.checkpoint(2)  // on the second copy: the first is released (on the materializer thread)
            atTwo = workload.model
            for _ in 0..<200 { try workload.step(states) }
            try backend.materializeNow()  // queued after the release, so it ran by now
            let third = try localCopies().filter { !first.contains($0) && !second.contains($0) }
            #expect(third.count == 1)
            #expect(try localCopies() == (second + third).sorted(), "the first copy is gone, the second stays")
            try backend.close()  // fails before a checkpoint on the newest materialization completes
        }
        let restored = try scratch.open(setup, storage: storage, restore: .latest)
        let report = try #require(restored.restoreReport)
        #expect(report.fetchedBytes == 0, "checkpoint 2's materialization comes from its local copy")
        #expect(report.localBytes > 0)
        #expect(try workload.read(try CheckpointWorkload.register(restored.state)) == atTwo)
        // The restored checkpoint is the latest completed one until a new checkpoint completes: new
        // materializations keep its copy (the second one is queued after the first's cleanup, so that ran).
        try restored.materializeNow()
        try restored.materializeNow()
        #expect(try localCopies().contains(second[0]), "the restored checkpoint's local copy is kept")
        try restored.close()
    }

    /// A savepoint from RocksDB restores into the heap (and back), including map state, and into fewer key groups.
    @Test func savepointMovesBetweenEnginesAndRescales() throws {
        let scratch = Scratch()
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        var workload = CheckpointWorkload(seed: 11)
        let savepoint = scratch.directory.appending("savepoint-1")
        do {
            let backend = try scratch.open(Setup.all[0], storage: storage)
            let states = try CheckpointWorkload.register(backend.state)
            for _ in 0..<800 { try workload.step(states) }
            try backend.writeSavepoint(to: savepoint, id: 1)
            try backend.close()
        }
        let heap = try scratch.open(Setup.all[1], storage: storage, restore: .savepoint(savepoint), work: scratch.work + "-heap")
        #expect(try workload.read(try CheckpointWorkload.register(heap.state)) == workload.model)
        try heap.close()
        let incremental = try scratch.open(Setup.all[2], storage: storage, restore: .savepoint(savepoint), work: scratch.work + "-inc")
        #expect(try workload.read(try CheckpointWorkload.register(incremental.state)) == workload.model)
        try incremental.close()
        // Half the key groups: only the keys of that half come back.
        let half = try CheckpointedBackend<Int64>.open(
            backendID: "op/0", storage: storage, workingDirectory: scratch.work + "-half", engine: .heap,
            keySerializer: .int64, keyGroupRange: KeyGroupRange(start: 0, end: 64), restore: .savepoint(savepoint))
        let halfStates = try CheckpointWorkload.register(half.state)
        for key in Int64(0)..<64 where half.state.keyGroup(of: key) < 64 {
            try half.state.setCurrentKey(key)
            #expect(try halfStates.value.value() == workload.model.values[key])
        }
        try half.close()
    }
}
