import ArgumentParser
import Checkpointing
import Inspection

/// `weir checkpoints ROOT`: every checkpoint under a root.
struct CheckpointsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoints",
        abstract: "List the checkpoints under a checkpoint root (or a savepoint directory).",
        discussion: """
            Shows each checkpoint's id, status (completed / incomplete / damaged), time, strategy, total size, \
            size new since the previous checkpoint, and number of files. Read-only; safe while the job runs.

            Example:
              weir checkpoints /data/checkpoints/job-1 --json
            """
    )

    @Argument(help: "The checkpoint root or savepoint directory.")
    var root: String

    @Flag(help: "One JSON object per checkpoint.")
    var json = false

    struct Row: Encodable {
        var id: Int64
        var folder: String
        var status: String
        var kind: String?
        var timestamp_ms: Int64?
        var strategies: [String]
        var total_bytes: Int
        var incremental_bytes: Int
        var files: Int
        var error: String?
    }

    func run() throws {
        try InspectionSupport.run { () throws(CheckpointError) -> Int32 in
            let inspector = try CheckpointInspector(root: self.root)
            let entries = try inspector.entries()
            let rows = entries.map { entry -> Row in
                var error: String?
                if case .damaged(let message) = entry.status { error = message }
                return Row(
                    id: entry.id, folder: entry.folder, status: entry.status.label, kind: entry.metadata?.kind.rawValue,
                    timestamp_ms: entry.metadata?.timestampMilliseconds,
                    strategies: Array(Set(entry.metadata?.backends.map(\.strategy.rawValue) ?? [])).sorted(),
                    total_bytes: entry.totalBytes, incremental_bytes: entry.incrementalBytes, files: entry.fileCount,
                    error: error)
            }
            if self.json {
                for row in rows { print(InspectionSupport.jsonLine(row)) }
            } else if rows.isEmpty {
                print("no checkpoints under \(inspector.root)")
            } else {
                var table = [["id", "status", "kind", "time (ms since 1970)", "strategy", "total", "new", "files"]]
                for row in rows {
                    table.append([
                        "\(row.id)", row.status, row.kind ?? "-",
                        row.timestamp_ms.map(String.init) ?? "-", row.strategies.joined(separator: ","),
                        InspectionSupport.bytes(row.total_bytes), InspectionSupport.bytes(row.incremental_bytes),
                        "\(row.files)",
                    ])
                }
                print(InspectionSupport.table(table))
                // The damage in full, below the table: it names the file and what to do.
                for row in rows { if let error = row.error { print("\(row.folder): \(error)") } }
            }
            return rows.contains { $0.status == "damaged" } ? 1 : 0
        }
    }
}
