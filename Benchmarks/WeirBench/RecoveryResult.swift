import Foundation
import Runtime

/// One `weir-bench recovery` case, computed from its trace.
struct RecoveryResult: Codable {
    var strategy: String
    var payloadBytes: Int
    var kvSeparation: Bool
    var alignment: String
    var failure: String
    var localRecovery: Bool
    var sinkThrottleUs: Int
    var throughputRps: Double
    var throughputMinRps: Double
    var throughputMedianRps: Double
    var throughputMaxRps: Double
    var checkpoints: Int
    var checkpointP50Ms: Double
    var checkpointP99Ms: Double
    var checkpointMaxMs: Double
    /// p50 and p99 of each checkpoint phase over the measured checkpoints (each phase's own percentiles): start
    /// delay (trigger to first barrier at a task), alignment, synchronous part, asynchronous part, publish.
    var phaseP50Ms: Phases
    var phaseP99Ms: Phases
    var uploadedBytesP50: Int
    var stateBytes: Int
    var inflightBytesP50: Int
    var rootFiles: Int
    var rootBytes: Int
    var recoveryRestoredMs: Double?
    var recoveryFetchMs: Double?
    var recoveryOpenMs: Double?
    var recoveryReplayMs: Double?
    /// Local rollback of the parked databases in place (task exceptions with local recovery).
    var recoveryRollbackMs: Double?
    var recoveryFirstRecordMs: Double?
    var recoveryCaughtUpMs: Double?
    /// The rate "caught up" compares with: the median of the 1-second rates in the last
    /// `preFailureSeconds` before the failure. Not the median since the warm-up: the rate drifts down while
    /// the state grows from empty and RocksDB's compactions start (about 15 % over the standard workload's first
    /// 15 s), so that median overstates the rate the job had when it failed.
    var preFailureRps: Double?
    var recordsReprocessed: Int?
    var peakRssMib: Double
    /// The bare C-API loop's records/s in the same run (with `--bare-loop`), and the runtime's share of it.
    var bareCRps: Double?
    var throughputVsBare: Double?
    /// One line per checkpoint the run ended (completed or aborted), for `--checkpoint-log`; not in the JSON.
    var checkpointLog: [String] = []
    /// The 1-second source rates of the steady phase, then the rate in 250 ms windows from 750 ms before the
    /// failure to 3 s after it, for `--timeline`; not in the JSON.
    var timeline: [String] = []

    enum CodingKeys: String, CodingKey {
        case strategy, alignment, failure, checkpoints
        case payloadBytes = "payload_bytes", kvSeparation = "kv_separation", localRecovery = "local_recovery"
        case sinkThrottleUs = "sink_throttle_us", throughputRps = "throughput_rps", throughputMinRps = "throughput_min_rps"
        case throughputMedianRps = "throughput_median_rps", throughputMaxRps = "throughput_max_rps"
        case checkpointP50Ms = "checkpoint_p50_ms", checkpointP99Ms = "checkpoint_p99_ms", checkpointMaxMs = "checkpoint_max_ms"
        case phaseP50Ms = "checkpoint_phase_p50_ms", phaseP99Ms = "checkpoint_phase_p99_ms"
        case uploadedBytesP50 = "uploaded_bytes_p50", stateBytes = "state_bytes", inflightBytesP50 = "inflight_bytes_p50"
        case rootFiles = "root_files", rootBytes = "root_bytes", recoveryRestoredMs = "recovery_restored_ms"
        case recoveryFetchMs = "recovery_fetch_ms", recoveryOpenMs = "recovery_open_ms", recoveryReplayMs = "recovery_replay_ms"
        case recoveryRollbackMs = "recovery_rollback_ms"
        case recoveryFirstRecordMs = "recovery_first_record_ms", recoveryCaughtUpMs = "recovery_caught_up_ms"
        case preFailureRps = "recovery_pre_failure_rps"
        case recordsReprocessed = "records_reprocessed", peakRssMib = "peak_rss_mib"
        case bareCRps = "bare_c_rps", throughputVsBare = "throughput_vs_bare"
    }


    /// The seconds before the failure whose 1-second rates make the pre-failure rate.
    static let preFailureSeconds = 5

    /// Records at time `t` in `segment` (the latest sample at or before it).
    static func records(at t: Int64, in samples: [RecoveryTrace.Sample]) -> Int? {
        samples.last { $0.t <= t }?.records
    }

    init(options: RecoveryOptions, trace: RecoveryTrace, root: String) {
        self.strategy = options.strategy.rawValue
        self.payloadBytes = options.payload
        self.kvSeparation = options.kvSeparation
        self.alignment = options.alignment
        self.failure = options.failure
        self.localRecovery = options.localRecovery
        self.sinkThrottleUs = options.sinkThrottle
        let start = trace.startedAt
        let warm = start + Int64(options.warmup * 1000)
        let failedAt = trace.attempts.compactMap(\.failedAt).first
        let steadyEnd = failedAt ?? (start + Int64(options.duration * 1000))
        let first = trace.samples.filter { $0.segment == 0 }
        // Per-second rates over whole seconds of the steady phase.
        var rates: [Double] = []
        var second = warm
        while second + 1_000 <= steadyEnd {
            if let a = Self.records(at: second, in: first), let b = Self.records(at: second + 1_000, in: first) {
                rates.append(Double(b - a))
            }
            second += 1_000
        }
        self.timeline.append("  per second from the warm-up to the failure or end, records/s: "
            + rates.map { String(Int($0)) }.joined(separator: " "))
        let sortedRates = rates.sorted()
        self.throughputRps = rates.isEmpty ? 0 : rates.reduce(0, +) / Double(rates.count)
        self.throughputMinRps = sortedRates.first ?? 0
        self.throughputMedianRps = percentile(sortedRates, 0.5) ?? 0
        self.throughputMaxRps = sortedRates.last ?? 0

        self.checkpointLog = trace.checkpoints.map(Self.logLine)
        let completed = trace.checkpoints.filter { $0.status == .completed }
        let measured = Array(completed.dropFirst(Int(options.warmup * 1000) / options.interval))
        let durations = measured.map { $0.endToEnd.milliseconds }.sorted()
        self.checkpoints = measured.count
        self.checkpointP50Ms = percentile(durations, 0.5) ?? 0
        self.checkpointP99Ms = percentile(durations, 0.99) ?? 0
        self.checkpointMaxMs = durations.last ?? 0
        self.phaseP50Ms = Phases(measured, percentile: 0.5)
        self.phaseP99Ms = Phases(measured, percentile: 0.99)
        self.uploadedBytesP50 = percentile(measured.map(\.checkpointedBytes).sorted(), 0.5) ?? 0
        self.stateBytes = completed.last?.stateBytes ?? 0
        self.inflightBytesP50 = percentile(measured.map(\.inflightBytes).sorted(), 0.5) ?? 0
        (self.rootFiles, self.rootBytes) = directoryContents(root)
        self.peakRssMib = Double(trace.peakRSSKiB) / 1024

        guard let failedAt, let restart = trace.attempts.first(where: { ($0.startedAt >= failedAt - 50) && $0.failedAt == nil }) else { return }
        self.recoveryRestoredMs = restart.restoredAt.map { Double($0 - failedAt) }
        self.recoveryFetchMs = restart.fetchMs
        self.recoveryOpenMs = restart.openMs
        self.recoveryReplayMs = restart.replayMs
        self.recoveryRollbackMs = restart.rollbackMs
        self.recoveryFirstRecordMs = restart.firstRecordAt.map { Double($0 - failedAt) }
        if let atFailure = trace.attempts.compactMap(\.sourceRecordsAtFailure).first {
            self.recordsReprocessed = max(atFailure - restart.restoredSourceRecords, 0)
        }
        // Caught up: the first 250 ms window after the first record whose rate is back to 90 % of the pre-failure rate.
        let after = trace.samples.filter { $0.t >= (restart.firstRecordAt ?? failedAt) && $0.segment == trace.samples.last!.segment }
        let preFailure = percentile(rates.suffix(Self.preFailureSeconds).sorted(), 0.5) ?? self.throughputMedianRps
        self.preFailureRps = preFailure
        let target = 0.9 * preFailure
        let last = trace.samples.filter { $0.segment == trace.samples.last!.segment }
        for end in stride(from: failedAt - 750, through: failedAt + 3_000, by: 250) {
            let samples = end <= failedAt ? first : last
            guard let from = Self.records(at: end - 250, in: samples), let to = Self.records(at: end, in: samples) else { continue }
            let rate = Double(to - from) * 4
            self.timeline.append(
                String(format: "  %+6d ms: %7.0f records/s%@", Int(end - failedAt), rate, rate >= target ? "" : " (below 90 % of the pre-failure rate)"))
        }
        for sample in after {
            guard let earlier = Self.records(at: sample.t - 250, in: after), sample.t - 250 >= after.first!.t else { continue }
            if Double(sample.records - earlier) * 4 >= target {
                self.recoveryCaughtUpMs = Double(sample.t - failedAt)
                break
            }
        }
    }


    var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// `checkpoint 14 completed: 36.2 ms (start delay 25.1, alignment 0.0, sync 2.4, async 0.0, publish 3.1 ms), …`
    static func logLine(_ checkpoint: CheckpointStatistics) -> String {
        let phases = [
            ("start delay", checkpoint.maxStartDelay), ("alignment", checkpoint.maxAlignment),
            ("sync", checkpoint.maxSynchronous), ("async", checkpoint.maxAsynchronous), ("publish", checkpoint.publish),
        ].map { String(format: "%@ %.1f", $0.0, $0.1.milliseconds) }.joined(separator: ", ")
        return "  checkpoint \(checkpoint.checkpointID) \(checkpoint.status.rawValue): "
            + String(format: "%.1f ms", checkpoint.endToEnd.milliseconds) + " (\(phases) ms), "
            + "\(checkpoint.checkpointedBytes) B added of \(checkpoint.stateBytes) B"
            + (checkpoint.failure.map { "; \($0)" } ?? "")
    }

    var table: String {
        func ms(_ value: Double?) -> String { value.map { String(format: "%.0f ms", $0) } ?? "-" }
        var lines = [
            "\(self.strategy), \(self.payloadBytes) B, KV separation \(self.kvSeparation ? "on" : "off"), \(self.alignment), failure \(self.failure)",
            String(format: "  throughput %.0f records/s (per second min %.0f, median %.0f, max %.0f)",
                   self.throughputRps, self.throughputMinRps, self.throughputMedianRps, self.throughputMaxRps),
            // Byte counts are interpolated, not formatted with %d: that is 32 bits wide, and a 4 KiB state passes 2 GiB.
            String(format: "  checkpoints %d: p50 %.1f ms, p99 %.1f ms, max %.1f ms; ", self.checkpoints,
                   self.checkpointP50Ms, self.checkpointP99Ms, self.checkpointMaxMs)
                + "uploaded p50 \(self.uploadedBytesP50) B of state \(self.stateBytes) B; in-flight p50 \(self.inflightBytesP50) B",
            "  checkpoint phases p50 / p99: " + self.phaseP50Ms.pairs(with: self.phaseP99Ms),
            "  checkpoint root at the end: \(self.rootFiles) files, \(self.rootBytes) B; peak RSS \(String(format: "%.0f", self.peakRssMib)) MiB",
        ]
        if let bare = self.bareCRps {
            lines.append(String(format: "  bare C-API loop: %.0f records/s; the runtime reaches %.0f %% of it", bare, (self.throughputVsBare ?? 0) * 100))
        }
        if self.failure != "none" {
            lines.append("  recovery: state restored after \(ms(self.recoveryRestoredMs)) (fetch \(ms(self.recoveryFetchMs)), open "
                + "\(ms(self.recoveryOpenMs)), replay \(ms(self.recoveryReplayMs)), rollback \(ms(self.recoveryRollbackMs))), first record after \(ms(self.recoveryFirstRecordMs)), "
                + "caught up after \(ms(self.recoveryCaughtUpMs)) (90 % of the pre-failure \(Int(self.preFailureRps ?? 0)) records/s); "
                + "\(self.recordsReprocessed.map(String.init) ?? "-") records reprocessed")
        }
        return lines.joined(separator: "\n")
    }
}

/// The phases of a checkpoint, in milliseconds (one percentile of each over a run's checkpoints).
struct Phases: Codable {
    var startDelay: Double
    var alignment: Double
    var synchronous: Double
    var asynchronous: Double
    var publish: Double

    enum CodingKeys: String, CodingKey {
        case startDelay = "start_delay", alignment, synchronous = "sync", asynchronous = "async", publish
    }

    init(_ checkpoints: [CheckpointStatistics], percentile p: Double) {
        func at(_ value: (CheckpointStatistics) -> Duration) -> Double {
            percentile(checkpoints.map { value($0).milliseconds }.sorted(), p) ?? 0
        }
        self.startDelay = at(\.maxStartDelay)
        self.alignment = at(\.maxAlignment)
        self.synchronous = at(\.maxSynchronous)
        self.asynchronous = at(\.maxAsynchronous)
        self.publish = at(\.publish)
    }

    /// `start delay 40.1 / 90.2 ms, alignment …` for the text output.
    func pairs(with high: Phases) -> String {
        [("start delay", self.startDelay, high.startDelay), ("alignment", self.alignment, high.alignment),
         ("sync", self.synchronous, high.synchronous), ("async", self.asynchronous, high.asynchronous),
         ("publish", self.publish, high.publish)]
            .map { String(format: "%@ %.1f / %.1f ms", $0.0, $0.1, $0.2) }.joined(separator: ", ")
    }
}
