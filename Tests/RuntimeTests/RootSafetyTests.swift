import Foundation
import Runtime
import StateCore
import StateTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `weir run` never destroys or silently skips checkpoints: a fresh start on a root with checkpoints is refused
/// (and cleared only on request, under the root's lock, so never under a running job), `--restore` with a damaged
/// newest `_metadata` fails naming it, and a run whose restarts never recover exits 1.
@Suite(.serialized) struct RootSafetyTests {
    /// Runs `weir` to the end: exit status, standard output, standard error.
    static func weir(_ arguments: [String], scratch: TemporaryDirectory) throws -> (status: Int32, output: String, errors: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR"] = scratch.path
        let run = try FinishedProcess.run(KillRecoveryTests.weirPath, arguments, environment: environment)
        return (run.status, run.output, run.errors)
    }

    /// A small word count into `root` (checkpoints every 20 ms, a slow enough sink to take several).
    static func arguments(
        _ scratch: TemporaryDirectory, root: String, throttle: Int = 300, extra: [String] = []
    ) throws -> [String] {
        [
            "run", "word-count", "--input", try ChainedFanOutTests.input(scratch), "--output", scratch.appending("out"),
            "--checkpoint-interval", "20", "--checkpoint-directory", root, "--sink-throttle", "\(throttle)",
        ] + extra
    }

    @Test func aFreshStartOnARootWithCheckpointsIsRefusedAndLeavesItIntact() throws {
        let scratch = TemporaryDirectory(prefix: "weir-root")
        defer { scratch.remove() }
        let root = scratch.appending("checkpoints")
        let first = try Self.weir(try Self.arguments(scratch, root: root), scratch: scratch)
        #expect(first.status == 0, "\(first.errors)")
        let before = TemporaryDirectory.files(under: root)
        #expect(before.contains { $0.hasSuffix("/_metadata") })
        let again = try Self.weir(try Self.arguments(scratch, root: root), scratch: scratch)
        #expect(again.status == 1)
        #expect(again.errors.contains("already holds checkpoints") && again.errors.contains("--restore")
            && again.errors.contains("--clear-checkpoints"), "\(again.errors)")
        #expect(TemporaryDirectory.files(under: root) == before, "the refused start changed the root")
        let cleared = try Self.weir(try Self.arguments(scratch, root: root, extra: ["--clear-checkpoints"]), scratch: scratch)
        #expect(cleared.status == 0, "\(cleared.errors)")
    }

    /// The reproduction: a second job started on the root of a running one. It must fail on the lock,
    /// even with `--clear-checkpoints`, and the first job's checkpoints stay complete.
    @Test func aSecondJobNeverClearsTheRootOfARunningOne() throws {
        let scratch = TemporaryDirectory(prefix: "weir-root2")
        defer { scratch.remove() }
        let root = scratch.appending("checkpoints")
        let running = try KillRecoveryTests.launch(
            try Self.arguments(
                scratch, root: root, throttle: 100_000, extra: ["--buffer-size", "256", "--channel-capacity", "2"]), scratch: scratch)
        defer {
            kill(running.processIdentifier, SIGKILL)
            running.waitUntilExit()
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while KillRecoveryTests.latestCheckpoint(root) == 0 && running.isRunning && ContinuousClock.now < deadline { usleep(5_000) }
        let latest = KillRecoveryTests.latestCheckpoint(root)
        #expect(latest > 0)
        for extra in [[], ["--clear-checkpoints"]] {
            let second = try Self.weir(
                try Self.arguments(scratch, root: root, extra: extra) + ["--output", scratch.appending("out2")], scratch: scratch)
            #expect(second.status == 1)
            #expect(second.errors.contains("in use by another process"), "\(extra): \(second.errors)")
        }
        #expect(running.isRunning)
        #expect(KillRecoveryTests.latestCheckpoint(root) >= latest, "the running job's checkpoints went away")
    }

    @Test(arguments: ["truncated", "newer version"])
    func restoreWithADamagedLatestMetadataFailsNamingIt(damage: String) throws {
        let scratch = TemporaryDirectory(prefix: "weir-root3")
        defer { scratch.remove() }
        let root = scratch.appending("checkpoints")
        let first = try Self.weir(try Self.arguments(scratch, root: root), scratch: scratch)
        #expect(first.status == 0, "\(first.errors)")
        let latest = KillRecoveryTests.latestCheckpoint(root)
        let path = "\(root)/chk-\(latest)/_metadata"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        if damage == "truncated" { bytes = Array(bytes.prefix(bytes.count / 2)) } else { bytes[4] &+= 1 }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let before = TemporaryDirectory.files(under: root)
        let restored = try Self.weir(try Self.arguments(scratch, root: root, extra: ["--restore"]), scratch: scratch)
        #expect(restored.status == 1)
        #expect(restored.errors.contains(path) && restored.errors.contains("weir verify"), "\(restored.errors)")
        #expect(TemporaryDirectory.files(under: root) == before, "the failed restore changed the root")
    }

    /// Restarts that fail every time (a file of the checkpoint deleted) until `--duration` ends: exit 1.
    @Test func aRestoreWhoseRestartsNeverSucceedExitsOne() throws {
        let scratch = TemporaryDirectory(prefix: "weir-root4")
        defer { scratch.remove() }
        let root = scratch.appending("checkpoints")
        let first = try Self.weir(try Self.arguments(scratch, root: root, extra: ["--strategy", "full"]), scratch: scratch)
        #expect(first.status == 0, "\(first.errors)")
        let latest = KillRecoveryTests.latestCheckpoint(root)
        let folder = "\(root)/chk-\(latest)"
        let snapshot = try #require(try FileManager.default.contentsOfDirectory(atPath: folder).first { $0 != "_metadata" })
        try FileManager.default.removeItem(atPath: "\(folder)/\(snapshot)")
        let before = TemporaryDirectory.files(under: root)
        let restored = try Self.weir(
            try Self.arguments(scratch, root: root, extra: ["--strategy", "full", "--restore", "--duration", "0.3"]), scratch: scratch)
        #expect(restored.status == 1, "\(restored.output)")
        #expect(restored.errors.contains(snapshot), "\(restored.errors)")
        let after = Set(TemporaryDirectory.files(under: root))
        #expect(before.filter { !after.contains($0) }.isEmpty, "the failing restores deleted files of the root")
    }

    /// A checkpoint's folder or a savepoint given where a checkpoint root is expected, and a missing root given to
    /// `weir gc`: one-line errors that say what to give instead, and nothing written into them.
    @Test func aCheckpointFolderOrSavepointIsNotARoot() throws {
        let scratch = TemporaryDirectory(prefix: "weir-root-kind")
        defer { scratch.remove() }
        let root = scratch.appending("checkpoints")
        let first = try Self.weir(try Self.arguments(scratch, root: root), scratch: scratch)
        #expect(first.status == 0, "\(first.errors)")
        let folder = try #require(
            (try FileManager.default.contentsOfDirectory(atPath: root)).first { $0.hasPrefix("chk-") }.map { "\(root)/\($0)" })
        let before = TemporaryDirectory.files(under: folder)
        let run = try Self.weir(try Self.arguments(scratch, root: folder, extra: ["--restore"]), scratch: scratch)
        #expect(run.status == 1)
        #expect(run.errors.contains("error: ") && run.errors.contains("is one checkpoint's folder"), "\(run.errors)")
        #expect(run.errors.contains("give the root that holds it, \(root)"), "\(run.errors)")
        let gc = try Self.weir(["gc", folder], scratch: scratch)
        #expect(gc.status == 64 && gc.errors.contains("is one checkpoint's folder"), "\(gc.errors)")
        #expect(TemporaryDirectory.files(under: folder) == before, "something was written into \(folder)")

        let savepoint = scratch.appending("savepoint")
        #expect(try Self.weir(["savepoint", folder, savepoint], scratch: scratch).status == 0)
        let onSavepoint = try Self.weir(try Self.arguments(scratch, root: savepoint, extra: ["--restore"]), scratch: scratch)
        #expect(onSavepoint.status == 1)
        #expect(onSavepoint.errors.contains("is a savepoint, not a checkpoint root"), "\(onSavepoint.errors)")
        #expect(onSavepoint.errors.contains("--from-savepoint \(savepoint)"), "\(onSavepoint.errors)")

        // An unknown state name lists the states there are.
        let dump = try Self.weir(["dump", folder, "--state", "nope"], scratch: scratch)
        #expect(dump.status == 64 && dump.errors.hasPrefix("error: ") && dump.errors.contains("its states: "), "\(dump.errors)")
        let diff = try Self.weir(["diff", folder, savepoint, "--state", "nope"], scratch: scratch)
        #expect(diff.status == 64 && diff.errors.contains("their states: "), "\(diff.errors)")
        #expect(dump.errors.split(separator: "\n").count == 1 && diff.errors.split(separator: "\n").count == 1)

        let missing = scratch.appending("no-such-root")
        let gcMissing = try Self.weir(["gc", missing], scratch: scratch)
        #expect(gcMissing.status == 74 && gcMissing.errors.hasPrefix("error: \(missing) is not a directory"), "\(gcMissing.errors)")
        #expect(!FileManager.default.fileExists(atPath: missing), "gc created the root it was given")
    }
}
