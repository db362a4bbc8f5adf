import Checkpointing
import Foundation
import Inspection
import KeyedState
import StateTestSupport
import Synchronization
import Testing

/// Failures whose outcome is unknown, found by the seeded simulation (`weir-bench torture`): a publish that took
/// effect and then failed, and a subsumed checkpoint whose `_metadata` could not be removed. Either way no
/// checkpoint complete on disk may lose a file, and the latest completed checkpoint restores.
@Suite struct AmbiguousFailureTests {
    /// The local file system, with one-shot faults armed by path suffix.
    final class ScriptedFileSystem: CheckpointFileSystem, Sendable {
        private let base = LocalFileSystem()
        /// `publish` of a path with one of these suffixes takes effect, then throws (once each).
        let publishThenFail = Mutex<Set<String>>([])
        /// `remove` of a path with one of these suffixes throws without removing (once each).
        let removeFails = Mutex<Set<String>>([])

        private func take(_ set: borrowing Mutex<Set<String>>, _ path: String) -> Bool {
            set.withLock { suffixes in
                guard let hit = suffixes.first(where: { path.hasSuffix($0) }) else { return false }
                suffixes.remove(hit)
                return true
            }
        }

        func publish(_ bytes: [UInt8], to path: String) throws(CheckpointError) {
            try self.base.publish(bytes, to: path)
            if self.take(self.publishThenFail, path) {
                throw CheckpointError(code: .io, message: "fsync directory of \(path): Input/output error (scripted)")
            }
        }
        func remove(_ path: String) throws(CheckpointError) {
            if self.take(self.removeFails, path) {
                throw CheckpointError(code: .io, message: "remove \(path): Input/output error (scripted)", path: path)
            }
            try self.base.remove(path)
        }
        func removeFiles(_ paths: [String]) throws(CheckpointError) {
            for path in paths { try self.remove(path) }
        }
        func createDirectory(_ path: String) throws(CheckpointError) { try self.base.createDirectory(path) }
        func write(_ bytes: [UInt8], to path: String, sync: Bool) throws(CheckpointError) {
            try self.base.write(bytes, to: path, sync: sync)
        }
        func append(_ bytes: [UInt8], to path: String) throws(CheckpointError) { try self.base.append(bytes, to: path) }
        func sync(_ path: String) throws(CheckpointError) { try self.base.sync(path) }
        func copy(from source: String, to destination: String) throws(CheckpointError) -> (size: Int, crc32c: UInt32) {
            try self.base.copy(from: source, to: destination)
        }
        func read(_ path: String) throws(CheckpointError) -> [UInt8] { try self.base.read(path) }
        func read(_ path: String, offset: Int, count: Int) throws(CheckpointError) -> [UInt8] {
            try self.base.read(path, offset: offset, count: count)
        }
        func rename(_ source: String, to destination: String) throws(CheckpointError) {
            try self.base.rename(source, to: destination)
        }
        func syncDirectory(_ path: String) throws(CheckpointError) { try self.base.syncDirectory(path) }
        func list(_ path: String) throws(CheckpointError) -> [String] { try self.base.list(path) }
        func exists(_ path: String) -> Bool { self.base.exists(path) }
        func missing(_ paths: [String]) -> [String] { self.base.missing(paths) }
        func isDirectory(_ path: String) -> Bool { self.base.isDirectory(path) }
        func size(_ path: String) -> Int? { self.base.size(path) }
        func link(_ source: String, to destination: String) throws(CheckpointError) { try self.base.link(source, to: destination) }
        func realPath(_ path: String) -> String? { self.base.realPath(path) }
        func prefetch(_ paths: [String]) throws(CheckpointError) {}
    }

    /// Opens the root afresh (as a restart does) and checks it verifies clean with nothing unreferenced, and that
    /// its latest checkpoint is `latest` and restores `model`.
    static func expectRestorable(_ scratch: Scratch, latest: Int64, model: CheckpointWorkload.Model) throws {
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        #expect(storage.latest?.checkpointID == latest)
        let report = try CheckpointInspector(root: scratch.root).verify()
        #expect(report.isClean, "\(report.problems)")
        #expect(report.orphans.isEmpty, "\(report.orphans)")
        let backend = try scratch.open(Setup.all[0], storage: storage, restore: .latest, work: scratch.work + "-check")
        defer { try? backend.close() }
        let states = try CheckpointWorkload.register(backend.state)
        #expect(try CheckpointWorkload(seed: 0).read(states) == model)
    }

    @Test(arguments: [false, true])
    func aPublishThatTookEffectAndThenFailedLosesNoFile(withdrawalFails: Bool) throws {
        let scratch = Scratch()
        let fileSystem = ScriptedFileSystem()
        let storage = try CheckpointStorage(root: scratch.root, fileSystem: fileSystem)
        let backend = try scratch.open(Setup.all[0], storage: storage)
        let states = try CheckpointWorkload.register(backend.state)
        var workload = CheckpointWorkload(seed: 11)
        var models: [Int64: CheckpointWorkload.Model] = [:]
        for id: Int64 in 1...4 {
            for _ in 0..<150 { try workload.step(states) }
            if id == 3 {
                fileSystem.publishThenFail.withLock { $0 = ["chk-3/_metadata"] }
                if withdrawalFails { fileSystem.removeFails.withLock { $0 = ["chk-3/_metadata"] } }
                #expect(throws: CheckpointError.self) { try backend.checkpoint(id) }
                models[id] = workload.model
                continue
            }
            try backend.checkpoint(id)
            models[id] = workload.model
            storage.waitForCleanup()
            // Checkpoint 3 is gone (withdrawn), or still complete with every file it references.
            if id == 4 {
                #expect(FileManager.default.fileExists(atPath: scratch.root + "/chk-3/_metadata") == withdrawalFails)
            }
        }
        try backend.close()
        storage.close()
        try Self.expectRestorable(scratch, latest: 4, model: models[4]!)
        if withdrawalFails {
            // The kept checkpoint 3 restores too (its files were never released).
            let storage = try CheckpointStorage(root: scratch.root, retained: 3)
            defer { storage.close() }
            let three = try scratch.open(Setup.all[0], storage: storage, restore: .checkpoint(3), work: scratch.work + "-3")
            defer { try? three.close() }
            #expect(try CheckpointWorkload(seed: 0).read(try CheckpointWorkload.register(three.state)) == models[3]!)
        }
    }

    @Test func aSubsumedCheckpointWhoseMetadataCannotBeRemovedKeepsItsFiles() throws {
        let scratch = Scratch()
        let fileSystem = ScriptedFileSystem()
        let storage = try CheckpointStorage(root: scratch.root, fileSystem: fileSystem)
        let backend = try scratch.open(Setup.all[0], storage: storage)
        let states = try CheckpointWorkload.register(backend.state)
        var workload = CheckpointWorkload(seed: 12)
        for _ in 0..<150 { try workload.step(states) }
        try backend.checkpoint(1)
        fileSystem.removeFails.withLock { $0 = ["chk-1/_metadata"] }
        for id: Int64 in 2...3 {
            for _ in 0..<150 { try workload.step(states) }
            try backend.materializeNow()    // the next checkpoint no longer needs checkpoint 1's files
            try backend.checkpoint(id)
            storage.waitForCleanup()
            if id == 2 {
                // Its `_metadata` stayed: it is complete on disk, and every file it references is still there.
                #expect(FileManager.default.fileExists(atPath: scratch.root + "/chk-1/_metadata"))
                let report = try CheckpointInspector(root: scratch.root).verify()
                #expect(report.isClean, "\(report.problems)")
            }
        }
        // The next publish removed it after all.
        #expect(!FileManager.default.fileExists(atPath: scratch.root + "/chk-1"))
        let model = workload.model
        try backend.close()
        storage.close()
        try Self.expectRestorable(scratch, latest: 3, model: model)
    }
}
