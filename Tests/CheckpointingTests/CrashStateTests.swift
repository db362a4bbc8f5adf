import Checkpointing
import Foundation
import KeyedState
import StateCore
import StateTestSupport
import Testing

/// One protocol whose crash states are explored: what runs while the root is recorded.
struct CrashProtocol: CustomTestStringConvertible, Sendable {
    /// `checkpoint`, `materialization` or `cleanup`.
    var name: String
    var setup: Setup
    /// A materialization runs (and uploads) before the recorded checkpoint.
    var materializes: Bool
    /// Checkpoints kept: 1 makes the recorded checkpoint subsume the one before, and the cleanup delete its files.
    var retained: Int
    var testDescription: String { "\(self.name) (\(self.setup.testDescription))" }

    static let changelog = Setup(strategy: .changelog(materializationInterval: .zero, persistThreshold: 2_048), heap: false)
    static let all: [CrashProtocol] = [
        CrashProtocol(name: "checkpoint", setup: changelog, materializes: false, retained: 2),
        CrashProtocol(name: "materialization", setup: changelog, materializes: true, retained: 2),
        CrashProtocol(name: "cleanup", setup: changelog, materializes: true, retained: 1),
        CrashProtocol(name: "checkpoint", setup: Setup(strategy: .incremental, heap: false), materializes: false, retained: 2),
        CrashProtocol(name: "cleanup", setup: Setup(strategy: .incremental, heap: false), materializes: false, retained: 1),
        CrashProtocol(name: "cleanup", setup: Setup(strategy: .full, heap: false), materializes: false, retained: 1),
    ]
}

/// ALICE-style crash states of the publish, materialization and cleanup protocols: each protocol's file operations
/// are recorded once, every crash state POSIX allows is built from the record (`CrashStateExplorer`), and each
/// must restore the checkpoint published last or the one before, exactly, never an error, a mix, or a deleted file
/// still referenced.
@Suite struct CrashStateTests {
    @Test(arguments: CrashProtocol.all)
    func everyCrashStateRestoresTheLatestOrThePreviousCheckpoint(_ crashProtocol: CrashProtocol) throws {
        let scratch = Scratch()
        let recorder = try RecordingFileSystem(root: scratch.root)
        var workload = CheckpointWorkload(seed: 7)
        var models: [Int64: CheckpointWorkload.Model] = [:]
        let initial: DirectoryImage
        let operations: [FileOperation]
        do {
            let storage = try CheckpointStorage(root: scratch.root, retained: crashProtocol.retained, fileSystem: recorder)
            defer { storage.close() }
            let backend = try scratch.open(crashProtocol.setup, storage: storage)
            let states = try CheckpointWorkload.register(backend.state)
            for _ in 0..<300 { try workload.step(states) }
            if crashProtocol.setup.strategy.kind == .changelog { try backend.materializeNow() }
            for _ in 0..<100 { try workload.step(states) }
            try backend.checkpoint(1)
            models[1] = workload.model
            storage.waitForCleanup()
            initial = try DirectoryImage.capture(scratch.root)
            recorder.startRecording()
            for _ in 0..<300 { try workload.step(states) }
            if crashProtocol.materializes { try backend.materializeNow() }
            for _ in 0..<100 { try workload.step(states) }
            try backend.checkpoint(2)
            models[2] = workload.model
            storage.waitForCleanup()
            operations = recorder.stopRecording()
            try backend.close()
        }
        let crashStates = CrashStateExplorer.crashStates(initial: initial, operations: operations)
        var restored: [Int64: Int] = [:]
        for (number, crashState) in crashStates.enumerated() {
            let root = scratch.directory.appending("state-\(number)")
            try crashState.image.materialize(at: root)
            defer { TemporaryDirectory.removeTree(root) }
            let context = crashState.describe(operations)
            do {
                let storage = try CheckpointStorage(root: root, retained: crashProtocol.retained)
                defer { storage.close() }
                let backend = try scratch.open(crashProtocol.setup, storage: storage, restore: .latest, work: root + "-work")
                defer { TemporaryDirectory.removeTree(root + "-work") }
                let id = backend.restoreReport?.checkpointID ?? 0
                restored[id, default: 0] += 1
                let model = models[id]
                #expect(model != nil, "restored checkpoint \(id), neither 1 nor 2: \(context)")
                if let model {
                    #expect(try workload.read(try CheckpointWorkload.register(backend.state)) == model, "\(context)")
                }
                try backend.close()
            } catch {
                Issue.record("\(context): \(error)")
            }
        }
        // The record holds the protocol, every crash point's subsets were explored, and the states reach both ends.
        #expect(crashStates.allSatisfy { $0.exhaustive }, "raise subsetLimit: some crash point has over 8 unsynced operations")
        #expect(operations.contains { if case .rename(_, let target) = $0 { target.hasSuffix("chk-2/_metadata") } else { false } })
        #expect(restored[1, default: 0] > 0 && restored[2, default: 0] > 0, "\(restored)")
        print("\(crashProtocol.testDescription): \(operations.count) operations, \(crashStates.count) crash states (\(crashStates.filter { !$0.exhaustive }.count) from crash points with more than 8 unsynced operations, single losses only), restored \(restored.sorted { $0.key < $1.key })")
    }

    /// The explorer itself: an unsynced write renamed into place may land as an empty file (the rename persisted,
    /// the data not); once the file is fsynced before the rename, only whole contents or the old name remain.
    @Test func explorerFindsTheRenameBeforeTheData() {
        var initial = DirectoryImage()
        initial.directories = ["d"]
        let unsynced: [FileOperation] = [
            .create("d/a.tmp"), .write("d/a.tmp", [1, 2, 3, 4], append: false), .rename("d/a.tmp", "d/a"),
            .syncDirectory("d"),
        ]
        let states = CrashStateExplorer.crashStates(initial: initial, operations: unsynced)
        let contents = Set(states.compactMap { $0.image.files["d/a"] })
        #expect(contents == [[], [1, 2], [1, 2, 3, 4]])
        let synced: [FileOperation] = [
            .create("d/a.tmp"), .write("d/a.tmp", [1, 2, 3, 4], append: false), .sync("d/a.tmp"),
            .rename("d/a.tmp", "d/a"), .syncDirectory("d"),
        ]
        let safe = CrashStateExplorer.crashStates(initial: initial, operations: synced)
        #expect(Set(safe.compactMap { $0.image.files["d/a"] }) == [[1, 2, 3, 4]])
        // Before the directory fsync the rename may be lost: the data is then whole under the old name.
        #expect(safe.contains { $0.image.files == ["d/a.tmp": [1, 2, 3, 4]] })
        #expect(!safe.contains { $0.image.files["d/a"] != nil && $0.image.files["d/a.tmp"] != nil })
    }
}
