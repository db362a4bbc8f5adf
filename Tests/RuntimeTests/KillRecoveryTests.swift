import Foundation
import Runtime
import StateCore
import StateTestSupport
import Testing

/// `weir run keyed-count` is killed with SIGKILL at seeded moments and started again with `--restore`; the
/// committed output of the final, completed run equals the failure-free output.
@Suite(.serialized) struct KillRecoveryTests {
    static var weirPath: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path + "/weir"
    }

    static func launch(_ arguments: [String], scratch: TemporaryDirectory, output: Pipe? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.weirPath)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR"] = scratch.path
        process.environment = environment
        process.standardOutput = output ?? FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        return process
    }

    /// The newest completed checkpoint under `root` (0: none).
    static func latestCheckpoint(_ root: String) -> Int64 {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.compactMap { name -> Int64? in
            guard name.hasPrefix("chk-"), FileManager.default.fileExists(atPath: "\(root)/\(name)/_metadata") else { return nil }
            return Int64(name.dropFirst(4))
        }.max() ?? 0
    }

    @Test(arguments: ["aligned", "unaligned"], ["changelog", "incremental"])
    func killedJobResumesFromTheLatestCheckpointExactlyOnce(alignment: String, strategy: String) throws {
        let scratch = TemporaryDirectory(prefix: "weir-kill")
        defer { scratch.remove() }
        let output = scratch.appending("out")
        let arguments = [
            "run", "keyed-count", "--keys", "\(ExactlyOnceTests.keys)", "--payload", "16",
            "--records", "\(ExactlyOnceTests.records)", "--rate", "12000", "--duration", "0",
            "--checkpoint-interval", "80", "--materialization-interval", "0.3", "--alignment", alignment,
            "--strategy", strategy, "--checkpoint-directory", scratch.appending("checkpoints"), "--output", output,
        ]
        var random = SeededGenerator(seed: alignment == "aligned" ? 7 : 8)
        for round in 0..<2 {
            let before = Self.latestCheckpoint(scratch.appending("checkpoints"))
            let process = try Self.launch(arguments + (round == 0 ? [] : ["--restore"]), scratch: scratch)
            // Killed at a seeded moment once this run has completed a checkpoint of its own, however slowly the
            // binary starts (a fixed delay from the launch could kill both runs before any checkpoint on a busy
            // machine, and the last run would then have nothing to restore).
            let deadline = ContinuousClock.now + .seconds(60)
            while Self.latestCheckpoint(scratch.appending("checkpoints")) <= before && process.isRunning
                && ContinuousClock.now < deadline
            {
                usleep(5_000)
            }
            usleep(UInt32(random.next() % 400_000))
            #expect(process.isRunning, "round \(round): the job ended before it could be killed")
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let printed = Pipe()
        let last = try Self.launch(arguments + ["--restore"], scratch: scratch, output: printed)
        let text = String(decoding: printed.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        last.waitUntilExit()
        #expect(last.terminationStatus == 0)
        #expect(text.contains("restored from checkpoint"), "the last run did not restore a checkpoint: \(text)")
        let lines = try ExactlyOnceTests.committed(output)
        #expect(lines.count == ExactlyOnceTests.expected.count, "\(alignment)/\(strategy): \(lines.count) lines")
        #expect(lines == ExactlyOnceTests.expected, "\(alignment)/\(strategy): output after kill -9 and restore differs")
    }
}
