import Foundation

extension ReportWriter {
    /// The writer for the cases `include` accepts (the local-disk section leaves the object-storage cases out).
    func only(_ include: (ReportCommand.Case) -> Bool) -> ReportWriter {
        ReportWriter(runs: self.runs.filter { include($0.0) }, duration: self.duration, warmup: self.warmup,
                     failureAt: self.failureAt, elapsed: self.elapsed, chartDirectory: self.chartDirectory)
    }

    /// The object-storage section: each s3:// case beside the local-disk case it is compared with, and the
    /// object-storage issue's targets judged on the medians over the runs.
    func writeObjectStorage() -> String {
        let date = ISO8601DateFormatter().string(from: Date())
        var out = """
            ## `weir-bench report` — checkpoints on object storage

            Written by `swift run -c release weir-bench report --object-storage s3://… ` on \(date). Machine: \(Self.machine).
            The standard workload of the recovery report, with checkpoints on an S3-compatible server (`s3:` cases; each
            run under a new prefix, removed afterwards) beside the same cases on local disk, in the same report. "fresh
            machine": after the kill -9 the working directory (local copies included) is deleted and the restarted
            process has an empty object cache, so everything it restores is downloaded. "local copy kept": the restart
            finds its local copies, as after a process crash. Recovery times are from the failure; "restored" is until
            the state is open (fetch / open / replay), "caught up" until the rate is back at 90 %. Each row shows the
            case's run with the median throughput; the targets use medians over the \(self.runs.first?.1.count ?? 0) run(s).

            | case | records/s | vs local disk | checkpoint p50 / p99 / max ms | p99 start delay / sync / publish ms | uploaded p50 / state | root at end | restored ms (fetch / open / replay) | caught up ms |
            |---|---|---|---|---|---|---|---|---|

            """
        for (benchCase, r) in self.results {
            let local = self.localCounterpart(of: benchCase.name).flatMap(self.result)
            out += "| \(benchCase.name) | \(Self.thousands(r.throughputRps)) | "
                + (benchCase.name.hasPrefix("s3: ") ? local.map { String(format: "%.0f %%", r.throughputRps / $0.throughputRps * 100) } ?? "–" : "(local)")
                + " | " + String(format: "%.0f / %.0f / %.0f", r.checkpointP50Ms, r.checkpointP99Ms, r.checkpointMaxMs) + " | "
                + String(format: "%.0f / %.0f / %.0f", r.phaseP99Ms.startDelay, r.phaseP99Ms.synchronous, r.phaseP99Ms.publish) + " | "
                + "\(Self.mib(r.uploadedBytesP50)) / \(Self.mib(r.stateBytes)) | \(r.rootFiles) files, \(Self.mib(r.rootBytes)) | "
                + (r.failure == "kill"
                    ? "\(Self.ms(r.recoveryRestoredMs)) (\(Self.ms(r.recoveryFetchMs)) / \(Self.ms(r.recoveryOpenMs)) / \(Self.ms(r.recoveryReplayMs)))"
                    : "–")
                + " | \(r.failure == "kill" ? Self.ms(r.recoveryCaughtUpMs) : "–") |\n"
        }
        return out + self.objectStorageTargets()
    }

    /// The local-disk case an s3 case is compared with (its name without the prefix and the s3-only qualifiers).
    func localCounterpart(of name: String) -> String? {
        guard name.hasPrefix("s3: ") else { return nil }
        let base = name.dropFirst(4).replacingOccurrences(of: ", materialize every 8 s", with: "")
            .replacingOccurrences(of: ", local copy kept", with: "").replacingOccurrences(of: ", fresh machine", with: "")
        return ReportCommand.objectStorageBaselines.first { $0 == base }
    }

    func objectStorageTargets() -> String {
        var rows: [(String, String, Bool)] = []
        func add(_ what: String, _ values: [Double], _ limit: Double, atMost: Bool, unit: String) {
            guard let median = percentile(values.sorted(), 0.5) else { return rows.append((what, "not measured", false)) }
            let each = values.count > 1 ? " (" + values.map(Self.thousands).joined(separator: " / ") + ")" : ""
            rows.append((what, "\(Self.thousands(median)) \(unit)\(each)", atMost ? median <= limit : median >= limit))
        }
        /// Per run, `s3`'s figure over `local`'s, in per cent.
        func ratios(_ s3: String, _ local: String, _ figure: (RecoveryResult) -> Double?) -> [Double] {
            zip(self.all(s3), self.all(local)).compactMap { pair in
                guard let a = figure(pair.0), let b = figure(pair.1), b > 0 else { return nil }
                return a / b * 100
            }
        }
        let changelog = self.all("s3: changelog 100 B, exception")
        add("s3 changelog 100 B: checkpoint p99 ≤ 150 ms", changelog.map(\.checkpointP99Ms), 150, atMost: true, unit: "ms")
        add("s3 changelog 100 B: throughput ≥ 90 % of local disk (same run)",
            ratios("s3: changelog 100 B, exception", "changelog 100 B, exception") { $0.throughputRps }, 90, atMost: false, unit: "%")
        add("s3 incremental 100 B: checkpoint p99 ≤ 500 ms", self.all("s3: incremental 100 B, exception").map(\.checkpointP99Ms),
            500, atMost: true, unit: "ms")
        for name in ["s3: changelog 100 B, kill, fresh machine", "s3: changelog 100 B, materialize every 8 s, kill, fresh machine"] {
            let runs = self.all(name)
            let label = name.dropFirst(4).replacingOccurrences(of: "changelog 100 B, ", with: "")
            add("s3 \(label): state restored ≤ 5 s", runs.compactMap(\.recoveryRestoredMs), 5_000, atMost: true, unit: "ms")
            add("s3 \(label): caught up ≤ 8 s", runs.compactMap(\.recoveryCaughtUpMs), 8_000, atMost: true, unit: "ms")
        }
        add("s3 kill, local copy kept: caught up within 125 % of local disk's",
            ratios("s3: changelog 100 B, kill, local copy kept", "changelog 100 B, kill") { $0.recoveryCaughtUpMs }, 125,
            atMost: true, unit: "%")
        var out = "\n### Targets (object storage)\n\n| target | measured | |\n|---|---|---|\n"
        for (what, value, met) in rows { out += "| \(what) | \(value) | \(met ? "met" : "**missed**") |\n" }
        return out
    }
}
