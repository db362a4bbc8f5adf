import Foundation

/// One case of `weir-bench checkpoint`: one strategy at one state size.
struct CheckpointBenchmarkResult: Encodable {
    var strategy: String
    var keys: Int
    var checkpoints: Int
    var updatesPerSec: Double
    var loadSeconds: Double
    var checkpointP50Ms: Double
    var checkpointP99Ms: Double
    var checkpointMaxMs: Double
    var uploadedBytesP50: Int
    var uploadedBytesMax: Int
    var rootBytes: Int
    var materializations: Int
    var materializationMs: Double
    var restoreMs: Double
    var restoreFetchMs: Double
    var restoreOpenMs: Double
    var restoreReplayMs: Double
    var restoreReplayedRecords: Int
    var restoreWrittenRecords: Int
    var restoreLocalBytes: Int
    var restoreFetchedBytes: Int

    enum CodingKeys: String, CodingKey {
        case strategy, keys, checkpoints
        case updatesPerSec = "updates_per_sec", loadSeconds = "load_s"
        case checkpointP50Ms = "checkpoint_p50_ms", checkpointP99Ms = "checkpoint_p99_ms"
        case checkpointMaxMs = "checkpoint_max_ms", uploadedBytesP50 = "uploaded_bytes_p50"
        case uploadedBytesMax = "uploaded_bytes_max", rootBytes = "root_bytes"
        case materializations, materializationMs = "materialization_ms"
        case restoreMs = "restore_ms", restoreFetchMs = "restore_fetch_ms", restoreOpenMs = "restore_open_ms"
        case restoreReplayMs = "restore_replay_ms", restoreReplayedRecords = "restore_replayed_records"
        case restoreWrittenRecords = "restore_written_records"
        case restoreLocalBytes = "restore_local_bytes", restoreFetchedBytes = "restore_fetched_bytes"
    }

    var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    static let tableHeader = Self.row([
        "strategy", "keys", "ckpts", "upd/s", "p50 ms", "p99 ms", "max ms", "upload p50", "root", "mat ms",
        "restore ms", "fetch", "open", "replay (records)",
    ])

    var tableRow: String {
        Self.row([
            self.strategy, "\(self.keys)", "\(self.checkpoints)", String(format: "%.0f", self.updatesPerSec),
            String(format: "%.1f", self.checkpointP50Ms), String(format: "%.1f", self.checkpointP99Ms),
            String(format: "%.1f", self.checkpointMaxMs), Self.bytes(self.uploadedBytesP50), Self.bytes(self.rootBytes),
            String(format: "%.0f", self.materializationMs), String(format: "%.0f", self.restoreMs),
            String(format: "%.0f", self.restoreFetchMs), String(format: "%.0f", self.restoreOpenMs),
            String(format: "%.0f (%d)", self.restoreReplayMs, self.restoreReplayedRecords),
        ])
    }

    static func bytes(_ count: Int) -> String {
        switch count {
        case ..<10_000: "\(count) B"
        case ..<10_000_000: "\(count / 1_000) kB"
        default: "\(count / 1_000_000) MB"
        }
    }

    private static func row(_ cells: [String]) -> String {
        cells.enumerated().map { index, cell in
            let width = index == 0 ? 12 : 11
            return cell.count >= width ? cell : cell + String(repeating: " ", count: width - cell.count)
        }.joined(separator: " ")
    }

    /// The targets, checked against what was measured: local disk's, or object storage's (`remote`: p99 150 ms
    /// for the changelog and 500 ms for incremental, restore on a fresh machine within 5 s).
    static func targets(_ results: [CheckpointBenchmarkResult], remote: Bool = false) -> String {
        var lines = ["targets\(remote ? " (object storage)" : ""):"]
        let limits: [(String, Double)] = remote ? [("changelog", 150), ("incremental", 500)] : [("changelog", 100)]
        for (strategy, limit) in limits {
            for result in results.filter({ $0.strategy == strategy }).sorted(by: { $0.keys < $1.keys }) {
                let ok = result.checkpointP99Ms <= limit
                lines.append("  \(strategy) p99 \(String(format: "%.1f", result.checkpointP99Ms)) ms at \(result.keys) keys "
                    + "<= \(Int(limit)) ms: \(ok ? "met" : "MISSED")")
            }
        }
        let changelog = results.filter { $0.strategy == "changelog" }.sorted { $0.keys < $1.keys }
        if !remote, let small = changelog.first, let large = changelog.last, large.keys > small.keys, small.checkpointP99Ms > 0 {
            let ratio = large.checkpointP99Ms / small.checkpointP99Ms
            lines.append("  p99 at \(large.keys) / p99 at \(small.keys) = \(String(format: "%.2f", ratio)) <= 1.5: \(ratio <= 1.5 ? "met" : "MISSED")")
        }
        if let million = changelog.first(where: { $0.keys == 1_000_000 }) {
            let limit: Double = remote ? 5_000 : 1_000
            lines.append("  restore of 1M keys (\(remote ? "fresh machine" : "local recovery"), \(million.restoreReplayedRecords) records replayed) "
                + "\(String(format: "%.0f", million.restoreMs)) ms <= \(Int(limit)) ms: \(million.restoreMs <= limit ? "met" : "MISSED")")
        }
        return lines.count > 1 ? lines.joined(separator: "\n") : ""
    }
}
