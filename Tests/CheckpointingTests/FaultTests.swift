#if canImport(Glibc)
import Glibc
#endif
@testable import Checkpointing
import KeyedState
import StateCore
import StateTestSupport
import Synchronization
import Testing

/// A switch that makes every write of its file system fail as if the disk were full.
final class FullDisk: Sendable {
    let full = Mutex(false)

    /// The local file system, failing writes while `full` is set.
    var fileSystem: InterceptingFileSystem {
        InterceptingFileSystem(beforeWrite: { [self] path throws(CheckpointError) in
            if self.full.withLock({ $0 }) {
                throw CheckpointError(code: .noSpace, message: "write \(path): No space left on device", path: path)
            }
        })
    }
}

@Suite struct FaultTests {
    /// Writes checkpoint 1 (changelog, RocksDB) of a workload and returns the model at it.
    private func checkpointOnce(_ scratch: Scratch, steps: Int = 600) throws -> CheckpointWorkload.Model {
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        let backend = try scratch.open(Setup.all[0], storage: storage)
        let states = try CheckpointWorkload.register(backend.state)
        var workload = CheckpointWorkload(seed: 5)
        for _ in 0..<steps { try workload.step(states) }
        try backend.materializeNow()
        for _ in 0..<steps { try workload.step(states) }
        try backend.checkpoint(1)
        try backend.close()
        return workload.model
    }

    private func restoreError(_ scratch: Scratch, _ source: RestoreSource = .latest) throws -> CheckpointError? {
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        do {
            let backend = try scratch.open(Setup.all[0], storage: storage, restore: source, work: scratch.work + "-r")
            try backend.close()
            return nil
        } catch let error as CheckpointError {
            return error
        }
    }

    private func flip(_ path: String, at offset: Int) throws {
        var bytes = try LocalFileSystem().read(path)
        bytes[offset] ^= 0x40
        try LocalFileSystem().write(bytes, to: path, sync: false)
    }

    @Test func corruptMetadataIsReportedAndKept() throws {
        let scratch = Scratch()
        _ = try self.checkpointOnce(scratch)
        let path = scratch.root + "/chk-1/_metadata"
        try self.flip(path, at: 40)
        let error = try #require(try self.restoreError(scratch))
        #expect(error.code == .corrupt)
        #expect(error.message.contains("chk-1") && error.message.contains("checksum"))
        #expect(error.message.contains("restore from a savepoint"))
        #expect(LocalFileSystem().exists(path), "a damaged checkpoint is never deleted automatically")
    }

    /// Registering a restored state with another serializer fails before any state is read or changed; a wrong
    /// key serializer fails the restore itself.
    @Test func serializerMismatchIsRefused() throws {
        let scratch = Scratch()
        _ = try self.checkpointOnce(scratch)
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        let backend = try scratch.open(Setup.all[0], storage: storage, restore: .latest, work: scratch.work + "-r")
        #expect {
            _ = try backend.state.valueState(ValueStateDescriptor("count", serializer: .string))
        } throws: { error in
            let error = error as? StateError
            return error?.code == .incompatibleRegistration && error?.message.contains("weir.int64") == true
        }
        try backend.close()
        #expect {
            _ = try CheckpointedBackend<String>.open(
                backendID: "op/0", storage: storage, workingDirectory: scratch.work + "-s", keySerializer: .string,
                restore: .latest)
        } throws: { error in
            let error = error as? CheckpointError
            return error?.code == .incompatible && error?.checkpointID == 1 && error?.message.contains("key serializer") == true
        }
    }

    @Test func newerMetadataVersionIsRefused() throws {
        var bytes = CheckpointMetadata(checkpointID: 3, timestampMilliseconds: 0, backends: []).encoded()
        bytes[9] = 9
        #expect {
            _ = try CheckpointMetadata.decode(bytes, path: "x/_metadata")
        } throws: { error in
            let error = error as? CheckpointError
            return error?.code == .unsupportedVersion && error?.message.contains("version 9") == true
        }
    }

    @Test func truncatedSegmentNamesFileOffsetAndSQN() throws {
        let scratch = Scratch()
        _ = try self.checkpointOnce(scratch)
        let metadata = try CheckpointMetadata.decode(
            try LocalFileSystem().read(scratch.root + "/chk-1/_metadata"), path: "_metadata")
        let section = try #require(metadata.backends.first?.changelog.first)
        let path = scratch.root + "/" + section.file.path
        try self.flip(path, at: section.offset + section.length - 3)
        let error = try #require(try self.restoreError(scratch))
        #expect(error.code == .corrupt)
        #expect(error.path == path)
        #expect(error.sqn == section.firstSQN)
        #expect(error.checkpointID == 1)
        #expect(error.message.contains("checksum"))
        let bytes = try LocalFileSystem().read(path)
        try LocalFileSystem().write(Array(bytes.prefix(section.offset + 10)), to: path, sync: false)
        let truncated = try #require(try self.restoreError(scratch))
        #expect(truncated.code == .corrupt && truncated.message.contains("truncated"))
    }

    @Test func missingAndDamagedMaterializedFiles() throws {
        let scratch = Scratch()
        _ = try self.checkpointOnce(scratch)
        let metadata = try CheckpointMetadata.decode(
            try LocalFileSystem().read(scratch.root + "/chk-1/_metadata"), path: "_metadata")
        let file = try #require(metadata.backends.first?.materialization?.files.first { $0.path.hasSuffix(".sst") })
        try self.flip(scratch.root + "/" + file.path, at: 100)
        let damaged = try #require(try self.restoreError(scratch))
        #expect(damaged.code == .corrupt && damaged.message.contains(file.path))
        try LocalFileSystem().remove(scratch.root + "/" + file.path)
        let missing = try #require(try self.restoreError(scratch))
        #expect(missing.code == .missing && missing.message.contains(file.path))
    }

    @Test func pathsThatLeaveTheRootAreRefused() throws {
        let scratch = Scratch()
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        for bad in ["../outside", "/etc/passwd", "shared/../../x", ""] {
            #expect(throws: CheckpointError.self) { _ = try storage.resolve(bad, checkpoint: 1) }
        }
        try LocalFileSystem().createDirectory(scratch.directory.appending("elsewhere"))
        #expect(symlink(scratch.directory.appending("elsewhere"), scratch.root + "/shared/link") == 0)
        #expect {
            _ = try storage.resolve("shared/link/file", checkpoint: 1)
        } throws: { ($0 as? CheckpointError)?.code == .unsafePath }
        #expect(try storage.resolve("shared/fine.sst", checkpoint: 1) == scratch.root + "/shared/fine.sst")
    }

    /// Publishing re-checks only the files an earlier publish has not: a checkpoint that references the files
    /// of the last one (already checked) and one path out of the root is refused, and nothing is published.
    @Test func publishRefusesAPathOutOfTheRootBesideCheckedOnes() throws {
        let scratch = Scratch()
        _ = try self.checkpointOnce(scratch)
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        var metadata = try storage.metadata(1)
        metadata.checkpointID = 2
        try storage.publish(metadata)  // the same files again: all checked before
        #expect(storage.completedCheckpoints == [2])
        try LocalFileSystem().createDirectory(scratch.directory.appending("elsewhere"))
        #expect(symlink(scratch.directory.appending("elsewhere"), scratch.root + "/shared/link") == 0)
        for bad in ["../outside.wcl", "shared/link/x.wcl"] {
            var escaping = metadata
            escaping.checkpointID = 3
            var section = try #require(escaping.backends[0].changelog.first)
            section.file.path = bad
            escaping.backends[0].changelog.append(section)
            #expect {
                try storage.publish(escaping)
            } throws: { ($0 as? CheckpointError)?.code == .unsafePath && ($0 as? CheckpointError)?.checkpointID == 3 }
            #expect(storage.completedCheckpoints == [2])
            #expect(!LocalFileSystem().exists(scratch.root + "/chk-3"))
        }
    }

    /// A full disk fails the checkpoint with `.noSpace`; the previous checkpoint stays restorable, and once space
    /// is back the next checkpoint holds every change, including those whose upload failed.
    @Test(arguments: [false, true]) func diskFullFailsOnlyThatCheckpoint(heap: Bool) throws {
        let scratch = Scratch()
        let disk = FullDisk()
        let fileSystem = disk.fileSystem
        let setup = Setup(strategy: .changelog(materializationInterval: .zero, persistThreshold: 1_024), heap: heap)
        var workload = CheckpointWorkload(seed: 9)
        do {
            let storage = try CheckpointStorage(root: scratch.root, fileSystem: fileSystem)
            defer { storage.close() }
            let backend = try scratch.open(setup, storage: storage)
            let states = try CheckpointWorkload.register(backend.state)
            for _ in 0..<300 { try workload.step(states) }
            try backend.checkpoint(1)
            let atOne = workload.model
            disk.full.withLock { $0 = true }
            for _ in 0..<300 { try workload.step(states) }
            #expect {
                try backend.checkpoint(2)
            } throws: { ($0 as? CheckpointError)?.code == .noSpace && ($0 as? CheckpointError)?.checkpointID == 2 }
            #expect(storage.completedCheckpoints == [1])
            let intact = try scratch.open(setup, storage: storage, restore: .latest, work: scratch.work + "-1")
            #expect(try workload.read(try CheckpointWorkload.register(intact.state)) == atOne)
            try intact.close()
            disk.full.withLock { $0 = false }
            for _ in 0..<100 { try workload.step(states) }
            try backend.checkpoint(3)
            try backend.close()
        }
        let storage = try CheckpointStorage(root: scratch.root, fileSystem: fileSystem)
        defer { storage.close() }
        let restored = try scratch.open(setup, storage: storage, restore: .latest, work: scratch.work + "-3")
        #expect(try workload.read(try CheckpointWorkload.register(restored.state)) == workload.model)
        try restored.close()
    }

    @Test func abortedAndOrphanedFilesAreCollectedAtStart() throws {
        let scratch = Scratch()
        _ = try self.checkpointOnce(scratch)
        let fs = LocalFileSystem()
        try fs.createDirectory(scratch.root + "/chk-2")
        try fs.write([1, 2, 3], to: scratch.root + "/chk-2/_metadata.inprogress", sync: false)
        try fs.write([1], to: scratch.root + "/shared/deadbeef-000099.sst", sync: false)
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        #expect(storage.startup.removedAborted == ["chk-2"])
        #expect(storage.startup.removedOrphans == ["shared/deadbeef-000099.sst"])
        #expect(!fs.exists(scratch.root + "/chk-2"))
        #expect(storage.completedCheckpoints == [1])
        #expect {
            _ = try CheckpointStorage(root: scratch.root)
        } throws: { ($0 as? CheckpointError)?.code == .locked }
    }
}

@Suite struct SharedFileRegistryTests {
    /// A snapshot's files are held for its checkpoint: the backend releasing its live set (closing) before the
    /// publish does not free them; the publish takes them over, an abort frees them.
    @Test func filesHeldForAPendingCheckpointOutliveTheirBackend() {
        var registry = SharedFileRegistry()
        registry.created("chk-4/a.wsnap")
        registry.setLive(owner: "op/0", paths: ["chk-4/a.wsnap"], settling: ["chk-4/a.wsnap"])
        registry.hold(checkpoint: 4, paths: ["chk-4/a.wsnap"])
        registry.setLive(owner: "op/0", paths: [])
        #expect(registry.takeDeletable().isEmpty, "the backend closed before checkpoint 4 was published")
        registry.retain(checkpoint: 4, paths: ["chk-4/a.wsnap"])
        registry.releaseHold(checkpoint: 4)
        #expect(registry.takeDeletable().isEmpty)
        registry.hold(checkpoint: 5, paths: ["shared/b"])
        #expect(registry.isNeeded("shared/b"))
        registry.releaseHold(checkpoint: 5)
        #expect(registry.takeDeletable() == ["shared/b"], "an aborted checkpoint's files go")
    }

    @Test func deletesExactlyWhenNoRetainedCheckpointOrLiveBackendNeedsAFile() {
        var registry = SharedFileRegistry()
        registry.created("shared/a")
        registry.created("shared/b")
        #expect(registry.takeDeletable().isEmpty, "pinned from creation until the owner takes them over")
        registry.setLive(owner: "op/0", paths: ["shared/a", "shared/b"], settling: ["shared/a", "shared/b"])
        registry.retain(checkpoint: 1, paths: ["shared/a", "shared/b"])
        #expect(registry.takeDeletable().isEmpty)
        registry.created("shared/c", pins: 2)
        registry.setLive(owner: "op/0", paths: ["shared/b", "shared/c"], settling: ["shared/c"])
        registry.retain(checkpoint: 2, paths: ["shared/b", "shared/c"])
        #expect(registry.takeDeletable().isEmpty, "checkpoint 1 still references a")
        registry.release(checkpoint: 1)
        #expect(registry.takeDeletable() == ["shared/a"])
        #expect(registry.references["shared/b"] == 1)
        registry.created("shared/orphan")
        #expect(registry.takeDeletable().isEmpty)
        registry.settle(["shared/orphan"])
        #expect(registry.takeDeletable() == ["shared/orphan"])
        registry.setLive(owner: "op/0", paths: [])
        registry.release(checkpoint: 2)
        #expect(registry.takeDeletable() == ["shared/b"], "c keeps one pin (a second backend's section)")
        registry.settle(["shared/c"])
        #expect(registry.takeDeletable() == ["shared/c"])
        #expect(registry.known.isEmpty)
    }

    /// The registry against a reference model that recomputes from scratch what is needed: seeded random
    /// creations with pins, settles, live-set changes, holds, retains, releases and collections. After every step
    /// each path's `isNeeded` matches the model, and every collection returns exactly the known paths nothing
    /// needs (the registry's own invariants are checked after every change in this debug build).
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func matchesAReferenceModelUnderRandomOperations(seed: UInt64) {
        struct Model {
            var known: Set<String> = []
            var pins: [String: Int] = [:]
            var checkpoints: [Int64: Set<String>] = [:]
            var live: [String: Set<String>] = [:]
            var held: [Int64: Set<String>] = [:]
            func isNeeded(_ path: String) -> Bool {
                (self.pins[path] ?? 0) > 0 || self.checkpoints.values.contains { $0.contains(path) }
                    || self.live.values.contains { $0.contains(path) } || self.held.values.contains { $0.contains(path) }
            }
        }
        var random = SeededGenerator(seed: seed)
        var registry = SharedFileRegistry()
        var model = Model()
        let paths = (0..<16).map { "shared/f\($0)" }
        let owners = ["op/0", "op/1"]
        var collected = 0
        for step in 0..<3_000 {
            let some = Set(paths.filter { _ in Int.random(in: 0..<4, using: &random) == 0 })
            let id = Int64.random(in: 1...5, using: &random)
            switch Int.random(in: 0..<8, using: &random) {
            case 0:
                let path = paths.randomElement(using: &random)!
                let pins = Int.random(in: 1...3, using: &random)
                registry.created(path, pins: pins)
                model.known.insert(path)
                model.pins[path, default: 0] += pins
            case 1:
                let path = paths.randomElement(using: &random)!
                registry.settle([path])
                if let count = model.pins[path] { model.pins[path] = count > 1 ? count - 1 : nil }
            case 2:
                let owner = owners.randomElement(using: &random)!
                let settling = Array(some.filter { model.pins[$0] != nil }.prefix(2))
                registry.setLive(owner: owner, paths: some, settling: settling)
                model.live[owner] = some.isEmpty ? nil : some
                model.known.formUnion(some)
                for path in settling { if let count = model.pins[path] { model.pins[path] = count > 1 ? count - 1 : nil } }
            case 3:
                registry.hold(checkpoint: id, paths: some)
                model.held[id, default: []].formUnion(some)
                model.known.formUnion(some)
            case 4:
                registry.releaseHold(checkpoint: id)
                model.held[id] = nil
            case 5:
                registry.retain(checkpoint: id, paths: some)
                if model.checkpoints[id] == nil {
                    model.checkpoints[id] = some
                    model.known.formUnion(some)
                }
            case 6:
                registry.release(checkpoint: id)
                model.checkpoints[id] = nil
            default:
                let expected = model.known.filter { !model.isNeeded($0) }.sorted()
                let deletable = registry.takeDeletable()
                #expect(deletable == expected, "seed \(seed) step \(step)")
                model.known.subtract(expected)
                collected += deletable.count
            }
            for path in paths where registry.isNeeded(path) != model.isNeeded(path) {
                Issue.record("seed \(seed) step \(step): isNeeded(\(path)) is \(registry.isNeeded(path))")
            }
        }
        #expect(collected > 30, "the operations must reach collections that remove files")
    }

    @Test func crc32cCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        let long = (0..<1_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var split = CRC32C()
        split.update(long[0..<333])
        split.update(long[333...])
        #expect(split.value == CRC32C.checksum(long))
    }
}
