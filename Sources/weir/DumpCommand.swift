import ArgumentParser
import Checkpointing
import Foundation
import Inspection

/// `weir dump CHECKPOINT --state NAME`: a state's entries.
struct DumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print a state's entries from a checkpoint: materialized state plus the changelog replayed.",
        discussion: """
            Restores a scratch copy (nothing under the root changes) and prints one entry per line: key group, \
            key, namespace, map key, value, TTL timestamp. Built-in serializers are decoded; other schemas print \
            as hex with the schema's name. --at-sqn shows the state as it was before that SQN.

            Example:
              weir dump /data/checkpoints/job-1/chk-42 --operator count --state count --key 42 --json
            """
    )

    @Argument(help: "A chk-<id> folder or a savepoint directory.")
    var checkpoint: String

    @Option(help: "The state's name.")
    var state: String

    @Option(name: .customLong("operator"), help: "Only this operator (vertex), every subtask.")
    var operatorName: String?

    @Option(name: .customLong("backend"), help: "Only this backend (operator/subtask).")
    var backendID: String?

    @Option(help: "Only this key, as printed (42, \"alice\" with its quotes: --key '\"alice\"').")
    var key: String?

    @Option(help: "Only this key group.")
    var keyGroup: Int?

    @Option(help: "Only this namespace, as printed.")
    var namespace: String?

    @Option(help: "The state before this SQN (between the materialization and the checkpoint).")
    var atSqn: UInt64?

    @Option(help: "Stop after this many entries.")
    var limit: Int?

    @Flag(help: "One JSON object per entry.")
    var json = false

    @Flag(help: "Comma-separated values with a header line.")
    var csv = false

    func validate() throws {
        if self.json && self.csv { throw ValidationError("--json and --csv exclude each other") }
        if let limit = self.limit, limit < 0 { throw ValidationError("--limit must not be negative") }
    }

    func run() throws {
        try InspectionSupport.run { () throws(CheckpointError) -> Int32 in
            let (inspector, metadata) = try CheckpointInspector.checkpoint(at: self.checkpoint)
            let scratch = InspectionSupport.scratchDirectory("weir-dump")
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let request = DumpRequest(
                state: self.state, backendID: self.backendID, keyGroup: self.keyGroup, key: self.key,
                namespace: self.namespace, atSQN: self.atSqn, scratchDirectory: scratch, operatorName: self.operatorName)
            var printed = 0
            let output = InspectionSupport.Output()
            if self.csv { output.line("backend,key_group,key,namespace,map_key,value,timestamp_ms") }
            try inspector.dump(metadata, request) { entry throws(CheckpointError) -> Bool in
                if let limit = self.limit, printed >= limit { return false }
                printed += 1
                output.line(self.line(entry))
                return true
            }
            output.flush()
            if printed == 0 && !self.json && !self.csv { print("no entries") }
            return 0
        }
    }

    private func line(_ entry: DumpEntry) -> String {
        if self.json { return entry.jsonLine }
        if self.csv {
            return [entry.backendID, "\(entry.keyGroup)", entry.key, entry.namespace, entry.userKey ?? "", entry.value,
                    entry.timestampMilliseconds.map(String.init) ?? ""].map(Self.csv).joined(separator: ",")
        }
        return "kg \(entry.keyGroup)  key \(entry.key)"
            + (entry.namespace == "null" ? "" : "  ns \(entry.namespace)")
            + (entry.userKey.map { "  [\($0)]" } ?? "") + "  = \(entry.value)"
            + (entry.timestampMilliseconds.map { "  (ts \($0))" } ?? "")
    }

    /// A CSV field, quoted when it holds a comma, quote or newline.
    private static func csv(_ field: String) -> String {
        field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
            ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
    }
}
