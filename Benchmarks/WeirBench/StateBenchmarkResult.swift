import Foundation

/// One case of `weir-bench state`: Weir's and raw RocksDB's throughput for one operation.
struct StateBenchmarkResult: Encodable {
    var `case`: String
    var operation: String
    var valueBytes: Int
    var separation: String
    var operations: Int
    var weirOpsPerSec: Double
    var rawOpsPerSec: Double
    var ratio: Double
    /// Write phases: the rate of the calls alone, without the flush and compactions they left behind (the
    /// `…OpsPerSec` rates above include those).
    var weirForegroundOpsPerSec: Double?
    var rawForegroundOpsPerSec: Double?
    /// Weir backend's write amplification over this phase (RocksDB statistics), or nil for read phases.
    var writeAmplification: Double?
    var rawWriteAmplification: Double?
    /// Write phases: live SST and blob file bytes of the Weir database after the phase.
    var diskBytes: UInt64?

    enum CodingKeys: String, CodingKey {
        case `case`, operation, operations, ratio
        case valueBytes = "value_bytes", separation
        case weirOpsPerSec = "weir_ops_per_sec", rawOpsPerSec = "raw_ops_per_sec"
        case weirForegroundOpsPerSec = "weir_foreground_ops_per_sec", rawForegroundOpsPerSec = "raw_foreground_ops_per_sec"
        case writeAmplification = "write_amplification", rawWriteAmplification = "raw_write_amplification"
        case diskBytes = "disk_bytes"
    }

    var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    static let tableHeader = Self.row(
        ["case", "weir ops/s", "raw ops/s", "ratio", "weir calls/s", "W-Amp", "raw W-Amp", "disk MB"])

    var tableRow: String {
        Self.row([
            self.case, String(format: "%.0f", self.weirOpsPerSec), String(format: "%.0f", self.rawOpsPerSec),
            String(format: "%.3f", self.ratio), self.weirForegroundOpsPerSec.map { String(format: "%.0f", $0) } ?? "-",
            self.writeAmplification.map { String(format: "%.2f", $0) } ?? "-",
            self.rawWriteAmplification.map { String(format: "%.2f", $0) } ?? "-",
            self.diskBytes.map { String($0 / 1_000_000) } ?? "-",
        ])
    }

    private static func row(_ cells: [String]) -> String {
        let widths = [28, 12, 12, 7, 13, 7, 9, 8]
        return zip(cells, widths).enumerated().map { index, pair in
            let padding = String(repeating: " ", count: max(pair.1 - pair.0.count, 0))
            return index == 0 ? pair.0 + padding : padding + pair.0
        }.joined(separator: " ")
    }
}

/// The issue's targets, checked against measured results.
struct StateBenchmarkTargets {
    let results: [StateBenchmarkResult]

    private func find(_ name: String) -> StateBenchmarkResult? { self.results.first { $0.case == name } }

    var report: String {
        var lines = ["targets:"]
        for name in ["value.update.100B.inline", "value.get.100B.inline"] {
            if let r = self.find(name) {
                lines.append(String(format: "  %@ Weir/raw %.3f (target >= 0.85): %@", name, r.ratio, r.ratio >= 0.85 ? "met" : "MISSED"))
            }
        }
        if let inline = self.find("value.update.4KiB.inline"), let blob = self.find("value.update.4KiB.blob") {
            let speedup = blob.weirOpsPerSec / inline.weirOpsPerSec
            lines.append(String(format: "  4 KiB update, separation speed-up %.2fx (target >= 1.7): %@", speedup, speedup >= 1.7 ? "met" : "MISSED"))
            if let a = blob.writeAmplification, let b = inline.writeAmplification, b > 0 {
                lines.append(String(format: "  4 KiB update, write amplification %.2f vs %.2f = %.2f (target <= 0.5): %@", a, b, a / b, a / b <= 0.5 ? "met" : "MISSED"))
            }
        }
        if let inline = self.find("value.update.100B.inline"), let blob = self.find("value.update.100B.blob") {
            let cost = 1 - blob.weirOpsPerSec / inline.weirOpsPerSec
            lines.append(String(format: "  100 B update, cost of turning separation on %.1f%% (target <= 5%%): %@", cost * 100, cost <= 0.05 ? "met" : "MISSED"))
        }
        return lines.joined(separator: "\n")
    }
}
