import ArgumentParser
import Foundation

/// `weir-bench report`: the standard recovery matrix, written to `docs/benchmarks.md` with SVG charts.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Run the standard recovery matrix and write docs/benchmarks.md (tables, SVG charts, targets).",
        discussion: """
            Each strategy at 100 B with a task exception and with kill -9; the changelog and incremental \
            strategies at 4 KiB with and without KV separation; aligned vs unaligned under backpressure; and the \
            bare C-API loop at both payload sizes. Each case runs as its own process (`weir-bench recovery \
            --json`), so its peak RSS is its own. The matrix runs --runs times, in turn, so a slow spell of the \
            machine spreads over the cases; the targets use each figure's median over the runs, and the tables \
            show the run with the median throughput. About 6 minutes per run.

            Example:
              swift run -c release weir-bench report --output docs/benchmarks.md
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

    struct Case {
        var name: String
        var arguments: [String]
        var bare = false
    }

    var matrix: [Case] {
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
        let markdown = ReportWriter(runs: Array(zip(cases, runs)), duration: self.duration, warmup: self.warmup, failureAt: self.failureAt,
                                    elapsed: Date().timeIntervalSince(started), chartDirectory: chartDirectory).write()
        try Self.replaceSection(in: self.output, with: markdown)
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

    /// Replaces the report's section of `path` (or appends it).
    static func replaceSection(in path: String, with markdown: String) throws {
        var text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "# Benchmarks\n"
        let section = "\(Self.begin)\n\(markdown)\(Self.end)\n"
        if let start = text.range(of: Self.begin), let stop = text.range(of: Self.end, range: start.upperBound..<text.endIndex) {
            let lineEnd = text[stop.upperBound...].firstIndex(of: "\n").map { text.index(after: $0) } ?? text.endIndex
            text.replaceSubrange(start.lowerBound..<lineEnd, with: section)
        } else {
            text += "\n" + section
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
