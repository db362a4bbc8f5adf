import Checkpointing
import Foundation
import StateCore
import StateTestSupport
import Testing

/// The `weir` CLI through the built binary: `--help` of every command and the table and JSON output of `dump`
/// against golden files, and mutated segment and SST bytes giving one-line errors with exit 1, never a crash.
/// Regenerate the golden files (after an intended output change) with
/// `WEIR_WRITE_GOLDEN=1 swift test --filter CLIGoldenTests`.
@Suite(.serialized) struct CLIGoldenTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Golden/cli"
    static let weir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path + "/weir"

    /// Runs the binary; `output` is standard output and error together (help, errors), `errors` error alone.
    static func run(_ arguments: [String]) throws -> (status: Int32, crashed: Bool, output: String, errors: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["COLUMNS"] = "100"
        let run = try FinishedProcess.run(Self.weir, arguments, environment: environment)
        return (run.status, run.crashed, run.errors + run.output, run.errors)
    }

    /// Compares `text` with golden file `name` (or writes it when regenerating).
    static func expectGolden(_ text: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let path = "\(Self.directory)/\(name)"
        if ProcessInfo.processInfo.environment["WEIR_WRITE_GOLDEN"] == "1" {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        let golden = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text == golden, "output differs from Golden/cli/\(name)", sourceLocation: sourceLocation)
    }

    @Test(arguments: ["checkpoints", "show", "dump", "diff", "changelog", "verify", "savepoint", "gc", "run keyed-count", "run word-count"])
    func helpMatchesItsGoldenFile(command: String) throws {
        let (status, _, text, _) = try Self.run(command.split(separator: " ").map(String.init) + ["--help"])
        #expect(status == 0)
        #expect(text.contains("Example"), "every command's help has an example")
        #expect(!text.contains("\\"), "a doubled backslash in a discussion literal prints instead of joining its lines")
        try Self.expectGolden(text, "help-\(command.replacingOccurrences(of: " ", with: "-")).txt")
    }

    @Test func dumpTableAndJSONMatchTheirGoldenFiles() throws {
        let scratch = Scratch()
        try scratch.seededRoot()
        let checkpoint = scratch.root + "/chk-2"
        for (state, name) in [("count", "count"), ("events", "events"), ("tags", "tags")] {
            let table = try Self.run(["dump", checkpoint, "--state", state, "--limit", "12"])
            #expect(table.status == 0)
            try Self.expectGolden(table.output, "dump-\(name).txt")
            let json = try Self.run(["dump", checkpoint, "--operator", "op", "--state", state, "--limit", "12", "--json"])
            #expect(json.status == 0)
            try Self.expectGolden(json.output, "dump-\(name).jsonl")
        }
        // Without --state: every state, one section each, as the state's own dump prints it.
        let every = try Self.run(["dump", checkpoint])
        #expect(every.status == 0)
        var sections: [String] = []
        for state in ["count", "events", "tags"] {
            let alone = try Self.run(["dump", checkpoint, "--state", state])
            sections.append("== state \(state)\n" + alone.output)
        }
        #expect(every.output == sections.joined(separator: "\n"), "\(every.output.prefix(600))")
        let csv = try Self.run(["dump", checkpoint, "--csv", "--limit", "3"])
        #expect(csv.output.hasPrefix("state,backend,key_group,") && csv.output.split(separator: "\n").count == 4)
        let unknown = try Self.run(["dump", checkpoint, "--operator", "nope", "--state", "count"])
        #expect(unknown.status == 64 && unknown.output.hasPrefix("error: ") && unknown.output.contains("operator 'nope'"))
    }

    @Test func mutatedSegmentsAndTablesGiveOneLineErrorsNeverCrashes() throws {
        let scratch = Scratch()
        try scratch.seededRoot()
        let shared = try FileManager.default.contentsOfDirectory(atPath: scratch.root + "/shared")
        let targets = shared.filter { $0.hasSuffix("-changelog.wcl") || $0.hasSuffix(".sst") }.sorted().prefix(4)
        #expect(!targets.isEmpty)
        var random = SeededGenerator(seed: 11)
        for name in targets {
            let path = "\(scratch.root)/shared/\(name)"
            let original = try LocalFileSystem().read(path)
            for round in 0..<3 {
                var bytes = original
                if round == 2 {
                    bytes = Array(bytes.prefix(bytes.count / 2))
                } else {
                    bytes[Int(random.next() % UInt64(bytes.count))] ^= 0x5A
                }
                try LocalFileSystem().write(bytes, to: path, sync: false)
                let verify = try Self.run(["verify", scratch.root])
                #expect(!verify.crashed && verify.status == 1, "verify after damaging \(name): \(verify.output)")
                #expect(verify.output.contains(name), "verify names the damaged file \(name)")
                for command in [["dump", scratch.root + "/chk-2", "--state", "count"], ["changelog", scratch.root + "/chk-2"]] {
                    let result = try Self.run(command)
                    #expect(!result.crashed, "\(command[0]) crashed on damaged \(name)")
                    if result.status != 0 {
                        // Streaming commands print what came before the damage; the error is one line on stderr.
                        #expect(result.errors.hasPrefix("error: ") && result.errors.split(separator: "\n").count == 1,
                                "\(command[0]) on damaged \(name): \(result.errors)")
                    }
                }
            }
            try LocalFileSystem().write(original, to: path, sync: false)
        }
    }
}
