import Foundation

/// Turns the report's results into markdown (tables, targets) and SVG charts.
struct ReportWriter {
    /// Every run of each case, in the order they ran.
    let runs: [(ReportCommand.Case, [RecoveryResult])]
    /// Each case's run with the median throughput (the tables and charts show it).
    let results: [(ReportCommand.Case, RecoveryResult)]
    let duration: Double
    let warmup: Double
    let failureAt: Double
    let elapsed: Double
    let chartDirectory: String

    init(runs: [(ReportCommand.Case, [RecoveryResult])], duration: Double, warmup: Double, failureAt: Double,
         elapsed: Double, chartDirectory: String) {
        self.runs = runs
        self.results = runs.map { ($0.0, $0.1.sorted { $0.throughputRps < $1.throughputRps }[($0.1.count - 1) / 2]) }
        self.duration = duration
        self.warmup = warmup
        self.failureAt = failureAt
        self.elapsed = elapsed
        self.chartDirectory = chartDirectory
    }

    func result(_ name: String) -> RecoveryResult? { self.results.first { $0.0.name == name }?.1 }

    /// Every run of case `name`.
    func all(_ name: String) -> [RecoveryResult] { self.runs.first { $0.0.name == name }?.1 ?? [] }

    static func ms(_ value: Double?) -> String { value.map { String(format: "%.0f", $0) } ?? "–" }
    static func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
    static func thousands(_ value: Double) -> String {
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.maximumFractionDigits = 0
        return formatter.string(from: NSNumber(value: value)) ?? String(format: "%.0f", value)
    }

    static var machine: String {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?
            .trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        let memory = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("MemTotal") }?.split(separator: " ").dropFirst().first { !$0.isEmpty }
            .flatMap { Double($0) }.map { String(format: "%.0f GiB", $0 / 1_048_576) } ?? "?"
        return "\(ProcessInfo.processInfo.activeProcessorCount) cores (\(cpu)), \(memory) RAM, \(ProcessInfo.processInfo.operatingSystemVersionString)"
    }

    func write() -> String {
        let date = ISO8601DateFormatter().string(from: Date())
        var out = """
            ## `weir-bench report` — recovery across checkpoint modes

            Written by `swift run -c release weir-bench report` on \(date) in \(Int(self.elapsed)) s. Machine: \(Self.machine).
            Standard workload: parallelism 2, generator seed 42, keys uniform in [0, 1,000,000), keyed count + last payload
            (value states on RocksDB, 16 MiB memtables, 32 MiB block cache per backend), 4 buffers per channel (up to 32 KiB,
            debloated to about 30 ms of the receiving task's input), discarding sink, checkpoints every
            1 s to a local directory, materialization every 30 s (changelog). Each case runs \(Int(self.duration)) s; the first
            \(Int(self.warmup)) s are not counted; failures happen at \(Int(self.failureAt)) s (`exception`: a task throws inside the
            process and the job restarts from the latest checkpoint; `kill`: the process is killed with SIGKILL and started
            again with restore). Throughput is source records per second before the failure; recovery times are from the
            failure. "first record" is the first record a keyed task processed; "caught up" is the end of the first 250 ms
            window back at 90 % of the pre-failure rate (the median 1-second rate of the last \(RecoveryResult.preFailureSeconds) s before the failure:
            the rate drifts down while the state grows from empty, so the median since the warm-up would overstate it). A checkpoint's phases: start delay (trigger to the first barrier at a
            task: data queued ahead of it), sync (the snapshot), publish (writing and syncing the metadata); each column
            is that phase's own p99 over the case's checkpoints. The matrix ran \(self.runs.first?.1.count ?? 0) times, one
            case after another; each row shows the case's run with the median throughput, and each target is judged on
            the median of its figure over the runs (every run's value in brackets, in the order they ran).

            | case | records/s (min / median / max) | checkpoint p50 / p99 / max ms | p99 start delay / sync / publish ms | uploaded p50 / state | root at end | in-flight p50 | restored ms (fetch / open / replay / rollback) | first record ms | caught up ms | reprocessed | peak RSS |
            |---|---|---|---|---|---|---|---|---|---|---|---|

            """
        for (benchCase, r) in self.results {
            out += "| \(benchCase.name) | \(Self.thousands(r.throughputRps)) (\(Self.thousands(r.throughputMinRps)) / "
                + "\(Self.thousands(r.throughputMedianRps)) / \(Self.thousands(r.throughputMaxRps))) | "
                + String(format: "%.0f / %.0f / %.0f", r.checkpointP50Ms, r.checkpointP99Ms, r.checkpointMaxMs) + " | "
                + String(format: "%.0f / %.0f / %.0f", r.phaseP99Ms.startDelay, r.phaseP99Ms.synchronous, r.phaseP99Ms.publish) + " | "
                + "\(Self.mib(r.uploadedBytesP50)) / \(Self.mib(r.stateBytes)) | \(r.rootFiles) files, \(Self.mib(r.rootBytes)) | "
                + "\(Self.mib(r.inflightBytesP50)) | "
                + (r.failure == "none" ? "–" : "\(Self.ms(r.recoveryRestoredMs)) (\(Self.ms(r.recoveryFetchMs)) / \(Self.ms(r.recoveryOpenMs)) / \(Self.ms(r.recoveryReplayMs)) / \(Self.ms(r.recoveryRollbackMs)))")
                + " | \(Self.ms(r.recoveryFirstRecordMs)) | \(Self.ms(r.recoveryCaughtUpMs)) | "
                + "\(r.recordsReprocessed.map { Self.thousands(Double($0)) } ?? "–") | " + String(format: "%.0f MiB", r.peakRssMib) + " |\n"
        }
        out += "\nThe bare C-API loop (per subtask a thread and its own RocksDB doing get count, put count + 1, put payload per record, nothing else):\n\n"
        for (benchCase, r) in self.results where r.bareCRps != nil {
            out += "- \(benchCase.name): bare loop \(Self.thousands(r.bareCRps!)) records/s; the runtime \(Self.thousands(r.throughputRps)) records/s = "
                + String(format: "%.0f %%", (r.throughputVsBare ?? 0) * 100) + " of it.\n"
        }
        out += self.targets()
        out += self.charts()
        return out
    }

    func targets() -> String {
        var rows: [(String, String, Bool)] = []
        /// Judges `values` (one per run) on their median.
        func add(_ what: String, _ values: [Double], _ limit: Double, atMost: Bool, unit: String) {
            guard let median = percentile(values.sorted(), 0.5) else {
                rows.append((what, "not measured", false))
                return
            }
            let each = values.count > 1 ? " (" + values.map(Self.thousands).joined(separator: " / ") + ")" : ""
            rows.append((what, "\(Self.thousands(median)) \(unit)\(each)", atMost ? median <= limit : median >= limit))
        }
        let changelog = self.all("changelog 100 B, exception")
        add("changelog 100 B: throughput ≥ 130,000 records/s", changelog.map(\.throughputRps), 130_000, atMost: false, unit: "records/s")
        add("changelog 100 B: throughput ≥ 50 % of the bare C loop", changelog.compactMap { $0.throughputVsBare.map { $0 * 100 } }, 50, atMost: false, unit: "%")
        add("changelog 100 B: checkpoint p99 ≤ 100 ms", changelog.map(\.checkpointP99Ms), 100, atMost: true, unit: "ms")
        add("changelog 100 B: caught up ≤ 1 s after a task exception", changelog.compactMap(\.recoveryCaughtUpMs), 1_000, atMost: true, unit: "ms")
        add("changelog 100 B: caught up ≤ 3 s after kill -9 + restart", self.all("changelog 100 B, kill").compactMap(\.recoveryCaughtUpMs), 3_000, atMost: true, unit: "ms")
        let incremental = self.all("incremental 100 B, exception")
        add("incremental 100 B: checkpoint p99 ≤ 300 ms", incremental.map(\.checkpointP99Ms), 300, atMost: true, unit: "ms")
        add("incremental 100 B: caught up ≤ 500 ms after a task exception", incremental.compactMap(\.recoveryCaughtUpMs), 500, atMost: true, unit: "ms")
        let blob = self.all("changelog 4 KiB, KV separation on, exception")
        add("4 KiB with KV separation: throughput ≥ 40,000 records/s", blob.map(\.throughputRps), 40_000, atMost: false, unit: "records/s")
        add("4 KiB with KV separation: checkpoint p99 ≤ 200 ms", blob.map(\.checkpointP99Ms), 200, atMost: true, unit: "ms")
        add("unaligned under backpressure: checkpoint p99 ≤ 100 ms", self.all("changelog 100 B, unaligned, backpressure").map(\.checkpointP99Ms), 100, atMost: true, unit: "ms")
        // Peak RSS per run is the largest of its 100 B cases.
        let hundred = self.runs.filter { $0.1.first?.payloadBytes == 100 }.map(\.1)
        let rss = (0..<(hundred.map(\.count).min() ?? 0)).map { run in hundred.map { $0[run].peakRssMib }.max() ?? 0 }
        add("peak RSS ≤ 300 MiB at 100 B (largest of the 100 B cases)", rss, 300, atMost: true, unit: "MiB")
        var out = "\n### Targets\n\n| target | measured | |\n|---|---|---|\n"
        for (what, value, met) in rows { out += "| \(what) | \(value) | \(met ? "met" : "**missed**") |\n" }
        return out
    }

    func charts() -> String {
        try? FileManager.default.createDirectory(atPath: self.chartDirectory, withIntermediateDirectories: true)
        let durations = SVGChart(
            title: "Checkpoint duration per case (p50, p99, max)", unit: "ms",
            rows: self.results.map { SVGChart.Row(label: $0.0.name, values: [("p50", $0.1.checkpointP50Ms), ("p99", $0.1.checkpointP99Ms), ("max", $0.1.checkpointMaxMs)]) },
            stacked: false, reference: (100, "100 ms"))
        let recoveries = self.results.filter { $0.1.failure != "none" }
        let phases = SVGChart(
            title: "Recovery after the failure: restore phases, then until the first record and until caught up", unit: "ms",
            rows: recoveries.map { (benchCase, r) in
                let restored = r.recoveryRestoredMs ?? 0
                let phases = (r.recoveryFetchMs ?? 0) + (r.recoveryOpenMs ?? 0) + (r.recoveryReplayMs ?? 0)
                    + (r.recoveryRollbackMs ?? 0)
                let first = max((r.recoveryFirstRecordMs ?? restored) - restored, 0)
                let caught = max((r.recoveryCaughtUpMs ?? 0) - max(r.recoveryFirstRecordMs ?? restored, restored), 0)
                return SVGChart.Row(label: benchCase.name, values: [
                    ("fetch", r.recoveryFetchMs ?? 0), ("open", r.recoveryOpenMs ?? 0), ("replay", r.recoveryReplayMs ?? 0),
                    ("rollback", r.recoveryRollbackMs ?? 0),
                    ("restart + other", max(restored - phases, 0)), ("to first record", first), ("to caught up", caught),
                ])
            }, stacked: true, reference: nil)
        var throughputRows = self.results.map { SVGChart.Row(label: $0.0.name, values: [("records/s", $0.1.throughputRps)]) }
        for (benchCase, r) in self.results where r.bareCRps != nil {
            throughputRows.append(SVGChart.Row(label: "bare C loop (\(benchCase.name.split(separator: ",").first!))", values: [("records/s", r.bareCRps!)]))
        }
        let throughput = SVGChart(title: "Steady-state throughput", unit: "rec/s", rows: throughputRows, stacked: false, reference: (130_000, "130k target"))
        var out = "\n### Charts\n\n"
        for (name, chart) in [("bench-checkpoint-durations.svg", durations), ("bench-recovery-phases.svg", phases), ("bench-throughput.svg", throughput)] {
            try? chart.text.write(toFile: "\(self.chartDirectory)/\(name)", atomically: true, encoding: .utf8)
            out += "![\(chart.title)](\(name))\n\n"
        }
        return out
    }
}
