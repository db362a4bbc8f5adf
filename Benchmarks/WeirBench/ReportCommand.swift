import ArgumentParser
import Foundation
import ObjectStore

/// `weir-bench report`: the standard recovery matrix, written to `docs/benchmarks.md` with SVG charts.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Run the standard recovery matrix and write docs/benchmarks.md (tables, SVG charts, targets).",
        discussion: """
            Each strategy at 100 B with a task exception and with kill -9; the changelog and incremental \
            strategies at 4 KiB with and without KV separation; aligned vs unaligned under backpressure; and the \
            bare C-API loop at both payload sizes; with --object-storage, cases on an s3:// root too (steady \
            state per strategy, kill -9 on a fresh machine and with the local copy kept). Each case runs as its \
            own process (`weir-bench recovery --json`), so its peak RSS is its own. The matrix runs --runs times, in turn, so a slow spell of the \
            machine spreads over the cases; the targets use each figure's median over the runs, and the tables \
            show the run with the median throughput. About 6 minutes per run.

            Example:
              swift run -c release weir-bench report --output docs/benchmarks.md
              make s3-server &  # then, with its AWS_* variables from the README:
              swift run -c release weir-bench report --object-storage s3://weir/report --object-storage-only
            """
    )

    @Option(help: "The markdown file to update (the report replaces its own section).")
    var output: String = "docs/benchmarks.md"

    @Option(help: "Where the SVG charts go (default: next to --output).")
    var charts: String?

    @Option(help: "Times the matrix runs: each target is judged on the median of its figure over the runs.")
    var runs: Int = 3

    @Option(help: "Seconds per case.")
    var duration: Double = 24

    @Option(help: "Seconds of warm-up per case.")
    var warmup: Double = 4

    @Option(help: "Seconds into a case when the failure happens.")
    var failureAt: Double = 14

    @Option(help: """
        Also run the object-storage cases with checkpoints under this s3://bucket/prefix (configured by \
        AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; `make s3-server` starts a local SeaweedFS), \
        written to their own section beside the local-disk one.
        """)
    var objectStorage: String?

    @Flag(help: "Run only the object-storage cases and the local-disk cases they are compared with (needs --object-storage); rewrites only the object-storage section.")
    var objectStorageOnly = false

    struct Case {
        var name: String
        var arguments: [String]
        var bare = false
    }

    func validate() throws {
        guard self.objectStorage.map(S3Location.isObjectStoreURL) ?? !self.objectStorageOnly else {
            throw ValidationError("--object-storage takes an s3://bucket/prefix root, and --object-storage-only needs it")
        }
    }

    /// The local-disk cases the object-storage cases are compared with.
    static let objectStorageBaselines = ["changelog 100 B, exception", "incremental 100 B, exception", "changelog 100 B, kill"]

    /// The object-storage cases under `root`: each strategy's steady state, and kill -9 on a fresh machine (with and
    /// without a materialization to download) and with the local copy kept.
    static func objectStorageCases(_ root: String) -> [Case] {
        let on = ["--checkpoint-directory", root]
        return [
            Case(name: "s3: changelog 100 B, exception", arguments: ["--strategy", "changelog", "--failure", "exception"] + on),
            Case(name: "s3: incremental 100 B, exception", arguments: ["--strategy", "incremental", "--failure", "exception"] + on),
            Case(name: "s3: changelog 100 B, kill, local copy kept", arguments: ["--strategy", "changelog", "--failure", "kill"] + on),
            Case(name: "s3: changelog 100 B, kill, fresh machine", arguments: ["--strategy", "changelog", "--failure", "kill", "--fresh-machine"] + on),
            Case(name: "s3: changelog 100 B, materialize every 8 s, kill, fresh machine",
                 arguments: ["--strategy", "changelog", "--materialization-interval", "8", "--failure", "kill", "--fresh-machine"] + on),
        ]
    }

    var matrix: [Case] {
        var cases = self.localMatrix
        if self.objectStorageOnly { cases = cases.filter { Self.objectStorageBaselines.contains($0.name) } }
        if let root = self.objectStorage { cases += Self.objectStorageCases(root) }
        return cases
    }

    var localMatrix: [Case] {
        var cases: [Case] = []
        for strategy in ["changelog", "incremental", "full"] {
            for failure in ["exception", "kill"] {
                cases.append(Case(
                    name: "\(strategy) 100 B, \(failure)", arguments: ["--strategy", strategy, "--failure", failure],
                    bare: strategy == "changelog" && failure == "exception"))
            }
        }
        cases.append(Case(
            name: "changelog 100 B, materialize every 3 s, exception",
            arguments: ["--strategy", "changelog", "--materialization-interval", "3", "--failure", "exception"]))
        for strategy in ["changelog", "incremental"] {
            for separation in [true, false] {
                cases.append(Case(
                    name: "\(strategy) 4 KiB, KV separation \(separation ? "on" : "off"), exception",
                    arguments: ["--strategy", strategy, "--payload", "4096", "--failure", "exception",
                                separation ? "--kv-separation" : "--no-kv-separation"],
                    bare: strategy == "changelog" && separation))
            }
        }
        for alignment in ["aligned", "unaligned"] {
            cases.append(Case(
                name: "changelog 100 B, \(alignment), backpressure", arguments: ["--alignment", alignment, "--sink-throttle", "1000"]))
        }
        return cases
    }

    func run() throws {
        let started = Date()
        let cases = self.matrix
        var runs: [[RecoveryResult]] = Array(repeating: [], count: cases.count)
        for run in 1...max(self.runs, 1) {
            for (index, benchCase) in cases.enumerated() {
                let elapsed = Int(Date().timeIntervalSince(started))
                Self.say("[run \(run)/\(max(self.runs, 1)), \(index + 1)/\(cases.count)] \(benchCase.name) (\(elapsed / 60)m\(elapsed % 60)s elapsed)")
                let result = try self.runCase(benchCase)
                Self.say(String(format: "      %.0f records/s, checkpoint p99 %.0f ms", result.throughputRps, result.checkpointP99Ms)
                    + (result.recoveryCaughtUpMs.map { String(format: ", caught up after %.0f ms", $0) } ?? ""))
                runs[index].append(result)
            }
        }
        let chartDirectory = self.charts ?? URL(fileURLWithPath: self.output).deletingLastPathComponent().path
        let writer = ReportWriter(runs: Array(zip(cases, runs)), duration: self.duration, warmup: self.warmup, failureAt: self.failureAt,
                                  elapsed: Date().timeIntervalSince(started), chartDirectory: chartDirectory)
        if !self.objectStorageOnly {
            let local = Set(self.localMatrix.map(\.name))
            try Self.replaceSection(in: self.output, with: writer.only { local.contains($0.name) }.write())
        }
        if self.objectStorage != nil {
            try Self.replaceSection(in: self.output, with: writer.writeObjectStorage(), begin: Self.objectBegin, end: Self.objectEnd)
        }
        print("wrote \(self.output) and charts in \(chartDirectory) in \(Int(Date().timeIntervalSince(started))) s")
    }

    /// A progress line, written at once (also when standard output is a file).
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    private func runCase(_ benchCase: Case) throws -> RecoveryResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = ["recovery", "--json", "--duration", "\(self.duration)", "--warmup", "\(self.warmup)",
                             "--failure-at", "\(self.failureAt)"] + benchCase.arguments + (benchCase.bare ? ["--bare-loop"] : [])
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last,
              let result = try? JSONDecoder().decode(RecoveryResult.self, from: Data(line.utf8))
        else {
            throw BenchFailure(description: "case '\(benchCase.name)' failed (exit \(process.terminationStatus))")
        }
        return result
    }

    static let begin = "<!-- weir-bench report: begin -->"
    static let end = "<!-- weir-bench report: end -->"
    static let objectBegin = "<!-- weir-bench report, object storage: begin -->"
    static let objectEnd = "<!-- weir-bench report, object storage: end -->"

    /// Replaces the section of `path` between `begin` and `end` (or appends it).
    static func replaceSection(in path: String, with markdown: String, begin: String = Self.begin, end: String = Self.end) throws {
        var text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "# Benchmarks\n"
        let section = "\(begin)\n\(markdown)\(end)\n"
        if let start = text.range(of: begin), let stop = text.range(of: end, range: start.upperBound..<text.endIndex) {
            let lineEnd = text[stop.upperBound...].firstIndex(of: "\n").map { text.index(after: $0) } ?? text.endIndex
            text.replaceSubrange(start.lowerBound..<lineEnd, with: section)
        } else {
            text += "\n" + section
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
