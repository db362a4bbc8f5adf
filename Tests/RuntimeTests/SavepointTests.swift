import Checkpointing
import Foundation
import Inspection
import Runtime
import StateTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Savepoints of a running job: `weir run --savepoint-on-stop` writes one of the stop checkpoint, `weir savepoint`
/// one of any retained checkpoint; both hold the same state as the checkpoint, reference nothing under its root,
/// and a job resumes from them (`--from-savepoint`, `RestoreSource.savepoint`) on another engine and at another
/// parallelism with every line exactly once.
@Suite(.serialized) struct SavepointTests {
    static func arguments(root: String, output: String) -> [String] {
        [
            "run", "keyed-count", "--keys", "\(ExactlyOnceTests.keys)", "--payload", "16",
            "--records", "\(ExactlyOnceTests.records)", "--rate", "8000", "--duration", "0",
            "--checkpoint-interval", "80", "--checkpoint-directory", root, "--output", output,
        ]
    }

    /// Every entry of every state, as `weir dump` renders them, sorted (backend ids left out: a savepoint keeps
    /// them, a rescaled job does not).
    static func entries(_ path: String, scratch: TemporaryDirectory) throws -> [String] {
        let (inspector, metadata) = try CheckpointInspector.checkpoint(at: path)
        var lines: [String] = []
        for state in CheckpointInspector.stateNames(metadata) {
            try inspector.dump(metadata, DumpRequest(state: state, scratchDirectory: scratch.appending("dump"))) { entry in
                lines.append("\(entry.state) \(entry.key) \(entry.namespace) \(entry.value)")
                return true
            }
        }
        return lines.sorted()
    }

    @Test func aSavepointOnStopHoldsTheCheckpointAndResumesOnTheOtherEngineExactlyOnce() throws {
        let scratch = TemporaryDirectory(prefix: "weir-savepoint")
        defer { scratch.remove() }
        let root = scratch.appending("checkpoints")
        let output = scratch.appending("out")
        let savepoint = scratch.appending("savepoint")
        let printed = Pipe()
        let process = try KillRecoveryTests.launch(
            Self.arguments(root: root, output: output) + ["--savepoint-on-stop", savepoint], scratch: scratch, output: printed)
        let deadline = ContinuousClock.now + .seconds(60)
        while KillRecoveryTests.latestCheckpoint(root) < 2 && process.isRunning && ContinuousClock.now < deadline { usleep(5_000) }
        #expect(process.isRunning, "the job ended before the signal")
        kill(process.processIdentifier, SIGTERM)
        let text = String(decoding: printed.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        let stopped = KillRecoveryTests.latestCheckpoint(root)
        #expect(text.contains("savepoint of checkpoint \(stopped) written to \(savepoint)"), "\(text)")

        // The savepoint: kind savepoint, one snapshot file per backend inside it, the checkpoint's state and source
        // positions.
        let (_, metadata) = try CheckpointInspector.checkpoint(at: savepoint)
        let checkpoint = try CheckpointInspector(root: root).metadata(stopped)
        #expect(metadata.kind == .savepoint && metadata.checkpointID == stopped)
        #expect(metadata.backends.count == checkpoint.backends.count)
        #expect(metadata.backends.allSatisfy { $0.changelog.isEmpty && $0.materialization?.format == .stateSnapshot })
        #expect(metadata.tasks == checkpoint.tasks)
        #expect(try CheckpointInspector(root: savepoint).verify().isClean)
        let state = try Self.entries(savepoint, scratch: scratch)
        #expect(!state.isEmpty)
        #expect(state == (try Self.entries("\(root)/chk-\(stopped)", scratch: scratch)))

        // `weir savepoint` of the same checkpoint holds the same; a second one into the same directory is refused.
        let exported = scratch.appending("exported")
        let cli = try RootSafetyTests.weir(["savepoint", "\(root)/chk-\(stopped)", exported], scratch: scratch)
        #expect(cli.status == 0, "\(cli.errors)")
        #expect(try Self.entries(exported, scratch: scratch) == state)
        let again = try RootSafetyTests.weir(["savepoint", "\(root)/chk-\(stopped)", exported], scratch: scratch)
        #expect(again.status == 64 && again.errors.contains("already holds a savepoint"), "\(again.errors)")

        // A new job from the savepoint on the heap engine, into a root of its own: the output ends with every line
        // exactly once.
        let resumed = try RootSafetyTests.weir(
            Self.arguments(root: scratch.appending("checkpoints-2"), output: output)
                + ["--from-savepoint", savepoint, "--engine", "heap"], scratch: scratch)
        #expect(resumed.status == 0, "\(resumed.errors)")
        let lines = try ExactlyOnceTests.committed(output)
        let extra = Set(lines).subtracting(ExactlyOnceTests.expected).sorted().prefix(5)
        let missing = Set(ExactlyOnceTests.expected).subtracting(lines).sorted().prefix(5)
        let exact = lines == ExactlyOnceTests.expected
        #expect(exact, "\(lines.count) lines; extra \(extra), missing \(missing); \(resumed.output)")
    }

    /// The library path: `stop()`, `exportSavepoint` of the stop checkpoint, the checkpoint root deleted, and a
    /// job with three keyed subtasks restored from the savepoint alone.
    @Test func aJobRescalesFromASavepointAfterItsRootIsGone() throws {
        let scratch = TemporaryDirectory(prefix: "weir-savepoint-rescale")
        defer { scratch.remove() }
        let output = scratch.appending("out")
        let generator = GeneratorSource.Configuration(keys: ExactlyOnceTests.keys, payloadBytes: 16, count: ExactlyOnceTests.records)
        let slow: @Sendable (Int, Int64) -> Bool = { _, _ in
            usleep(100)
            return false
        }
        let first = JobExecution(
            job: .keyedCount(generator: generator, parallelism: 2, sourceParallelism: 2, sink: .files(directory: output), failAt: slow),
            configuration: RescalingTests.configuration(scratch, alignment: .unaligned, restore: .empty))
        first.onCheckpoint = { [unowned first] statistics in
            if statistics.status == .completed && statistics.checkpointID == 3 { first.stop() }
        }
        let stoppedAt = try #require(try first.run().stoppedAt)
        #expect(try ExactlyOnceTests.committed(output).count < ExactlyOnceTests.expected.count, "stopped after the end")
        let root = scratch.appending("checkpoints")
        let savepoint = scratch.appending("savepoint")
        let inspector = try CheckpointInspector(root: root)
        try inspector.exportSavepoint(try inspector.metadata(stoppedAt), to: savepoint, scratchDirectory: scratch.appending("tmp"))
        try FileManager.default.removeItem(atPath: root)

        var configuration = RescalingTests.configuration(scratch, alignment: .aligned, restore: .savepoint(savepoint))
        configuration.engine = .heap
        let second = JobExecution(
            job: .keyedCount(generator: generator, parallelism: 3, sourceParallelism: 2, sink: .files(directory: output)),
            configuration: configuration)
        let resumed = try second.run()
        #expect(resumed.restoredFrom == [stoppedAt])
        #expect(resumed.failures.isEmpty, "\(resumed.failures.map(\.message))")
        let exact = try ExactlyOnceTests.committed(output) == ExactlyOnceTests.expected
        #expect(exact, "rescaled 2 → 3 from the savepoint: the output differs from the unscaled run")
    }
}
