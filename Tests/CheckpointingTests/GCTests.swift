import Checkpointing
import Foundation
import Inspection
import KeyedState
import StateCore
import StateTestSupport
import Testing

/// `weir gc`: the preview is the action (one plan), completed checkpoints go only with `--keep`, and a damaged
/// root is left alone.
@Suite struct GCTests {
    /// A root with completed checkpoints 1, 2, 3 (retained 3, a RocksDB materialization before each), an orphan
    /// under `shared/` and an aborted folder.
    static func root(_ scratch: Scratch) throws {
        let storage = try CheckpointStorage(root: scratch.root, retained: 3)
        let backend = try scratch.open(Setup.all[0], storage: storage)
        let states = try CheckpointWorkload.register(backend.state)
        var workload = CheckpointWorkload(seed: 9)
        for id: Int64 in 1...3 {
            for _ in 0..<300 { try workload.step(states) }
            try backend.materializeNow()
            try backend.checkpoint(id)
        }
        try backend.close()
        storage.close()
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: scratch.root + "/shared/0123-orphan.sst"))
        try FileManager.default.createDirectory(atPath: scratch.root + "/chk-4", withIntermediateDirectories: true)
    }

    static func gc(_ scratch: Scratch, _ extra: [String]) throws -> (status: Int32, lines: [String]) {
        let result = try CLIGoldenTests.run(["gc", scratch.root] + extra)
        #expect(!result.crashed)
        return (result.status, result.output.split(separator: "\n").map(String.init))
    }

    @Test(arguments: [nil, 1] as [Int?])
    func theDryRunPrintsExactlyWhatGCRemoves(keep: Int?) throws {
        let scratch = Scratch()
        try Self.root(scratch)
        let options = keep.map { ["--keep", "\($0)"] } ?? []
        let before = TemporaryDirectory.files(under: scratch.root)
        let preview = try Self.gc(scratch, options + ["--dry-run"])
        #expect(preview.status == 0)
        #expect(TemporaryDirectory.files(under: scratch.root) == before, "the dry run changed the root")
        let action = try Self.gc(scratch, options)
        #expect(action.status == 0)
        #expect(preview.lines.map { $0.replacingOccurrences(of: "would remove", with: "removed") } == action.lines)
        #expect(action.lines.contains("removed shared/0123-orphan.sst (referenced by no kept checkpoint)"))
        #expect(action.lines.contains("removed chk-4 (no _metadata)"))
        let storage = try CheckpointStorage(root: scratch.root, retained: 3)
        // Without --keep every completed checkpoint stays; with --keep 1 only the newest.
        #expect(storage.completedCheckpoints == (keep == nil ? [1, 2, 3] : [3]))
        #expect(storage.startup.removedOrphans.isEmpty && storage.startup.removedAborted.isEmpty)
        storage.close()
        #expect(action.lines.filter { $0.hasPrefix("removed chk-") && $0.contains("older than") }.count == (keep == nil ? 0 : 2))
        let report = try CheckpointInspector(root: scratch.root).verify()
        #expect(report.isClean, "\(report.problems)")
        #expect(report.orphans.isEmpty)
        #expect(try Self.gc(scratch, options).lines == ["nothing to remove"])
    }

    @Test(arguments: ["missing file", "bad local name"])
    func aDamagedRootIsLeftAlone(damage: String) throws {
        let scratch = Scratch()
        try Self.root(scratch)
        let path = scratch.root + "/chk-2/_metadata"
        var metadata = try CheckpointMetadata.decode(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))), path: path)
        let files = try #require(metadata.backends.first?.materialization?.files)
        if damage == "missing file" {
            // A file only checkpoint 2 and later reference (not checkpoint 1's).
            let storage = try CheckpointStorage(root: scratch.root, retained: 3, cleanup: .none)
            let one = try storage.metadata(1).referencedPaths
            storage.close()
            let file = try #require(files.first { !one.contains($0.path) })
            try FileManager.default.removeItem(atPath: "\(scratch.root)/\(file.path)")
        } else {
            metadata.backends[0].materialization!.files[0].localName = "../CURRENT"
            try Data(metadata.encoded()).write(to: URL(fileURLWithPath: path))
        }
        let verify = try CLIGoldenTests.run(["verify", scratch.root])
        #expect(verify.status == 1)
        if damage == "bad local name" {
            #expect(verify.output.contains("'../CURRENT'") && verify.output.contains("restore refuses it"), "\(verify.output)")
        }
        let before = TemporaryDirectory.files(under: scratch.root)
        for options in [[], ["--keep", "1"], ["--dry-run"]] {
            let result = try Self.gc(scratch, options)
            #expect(result.status == 1, "\(options): \(result.lines)")
            #expect(result.lines.last?.hasPrefix("removed nothing") == true, "\(options): \(result.lines)")
            #expect(TemporaryDirectory.files(under: scratch.root) == before, "\(options): gc changed a damaged root")
        }
    }
}
