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

    /// Runs `arguments` and kills the run with SIGKILL at a seeded moment once it has completed a checkpoint of
    /// its own, `kills` times (after the first, with `--restore`).
    static func killRepeatedly(
        _ arguments: [String], root: String, kills: Int, seed: UInt64, scratch: TemporaryDirectory
    ) throws {
        var random = SeededGenerator(seed: seed)
        for round in 0..<kills {
            let before = Self.latestCheckpoint(root)
            let process = try Self.launch(arguments + (round == 0 ? [] : ["--restore"]), scratch: scratch)
            // However slowly the binary starts (a fixed delay from the launch could kill both runs before any
            // checkpoint on a busy machine, and the last run would then have nothing to restore).
            let deadline = ContinuousClock.now + .seconds(60)
            while Self.latestCheckpoint(root) <= before && process.isRunning && ContinuousClock.now < deadline {
                usleep(5_000)
            }
            usleep(UInt32(random.next() % 400_000))
            #expect(process.isRunning, "round \(round): the job ended before it could be killed")
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Runs `arguments` with `--restore` to the end: exit 0, a restore line.
    static func finish(_ arguments: [String], scratch: TemporaryDirectory) throws {
        let printed = Pipe()
        let last = try Self.launch(arguments + ["--restore"], scratch: scratch, output: printed)
        let text = String(decoding: printed.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        last.waitUntilExit()
        #expect(last.terminationStatus == 0)
        #expect(text.contains("restored from checkpoint"), "the last run did not restore a checkpoint: \(text)")
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
        try Self.killRepeatedly(
            arguments, root: scratch.appending("checkpoints"), kills: 2, seed: alignment == "aligned" ? 7 : 8,
            scratch: scratch)
        try Self.finish(arguments, scratch: scratch)
        let lines = try ExactlyOnceTests.committed(output)
        #expect(lines.count == ExactlyOnceTests.expected.count, "\(alignment)/\(strategy): \(lines.count) lines")
        #expect(lines == ExactlyOnceTests.expected, "\(alignment)/\(strategy): output after kill -9 and restore differs")
    }

    /// The word count (a `flatMap` chained to the file source: one line, twelve words) under backpressure (two
    /// 64-byte buffers per channel, a slow sink), killed twice at seeded moments: the committed counts equal
    /// the failure-free ones, in every alignment mode and strategy.
    @Test(arguments: ["aligned", "unaligned", "timeout"], ["changelog", "incremental", "full"])
    func killedWordCountWithAChainedFlatMapLosesNoWord(alignment: String, strategy: String) throws {
        let scratch = TemporaryDirectory(prefix: "weir-kill-wc")
        defer { scratch.remove() }
        let output = scratch.appending("out")
        let arguments = [
            "run", "word-count", "--input", try ChainedFanOutTests.input(scratch), "--output", output,
            "--checkpoint-interval", "60", "--materialization-interval", "0.3", "--alignment", alignment,
            "--alignment-timeout", "5", "--strategy", strategy, "--checkpoint-directory", scratch.appending("checkpoints"),
            "--channel-capacity", "2", "--buffer-size", "64", "--sink-throttle", "15000",
        ]
        var seed: UInt64 = 0
        for byte in (alignment + strategy).utf8 { seed = seed &* 31 &+ UInt64(byte) }
        try Self.killRepeatedly(arguments, root: scratch.appending("checkpoints"), kills: 2, seed: seed, scratch: scratch)
        try Self.finish(arguments, scratch: scratch)
        let lines = try ExactlyOnceTests.committed(output)
        #expect(lines.count == ChainedFanOutTests.expected.count, "\(alignment)/\(strategy): \(lines.count) lines")
        #expect(ChainedFanOutTests.difference(lines, ChainedFanOutTests.expected) == nil,
            "\(alignment)/\(strategy): \(ChainedFanOutTests.difference(lines, ChainedFanOutTests.expected) ?? "")")
    }
}
