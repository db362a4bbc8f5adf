import ArgumentParser
import Checkpointing
import Foundation
import Inspection

/// `weir dump CHECKPOINT [--state NAME]`: a state's entries, or every state's, one section each.
struct DumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print state entries from a checkpoint: materialized state plus the changelog replayed.",
        discussion: """
            Restores a scratch copy (nothing under the root changes) and prints one entry per line: key group, \
            key, namespace, map key, value, TTL timestamp. Built-in serializers are decoded; other schemas print \
            as hex with the schema's name. --at-sqn shows the state as it was before that SQN. Without --state, \
            every state is printed, one section per state (with --csv a `state` column first).

            Example:
              weir dump /data/checkpoints/job-1/chk-42 --operator count --state count --key 42 --json
            """
    )

    @Argument(help: "A chk-<id> folder or a savepoint directory.")
    var checkpoint: String

    @Option(help: "The state's name (default: every state, one section each).")
    var state: String?

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
            let states = self.state.map { [$0] }
                ?? CheckpointInspector.stateNames(metadata, backendID: self.backendID, operatorName: self.operatorName)
            let every = self.state == nil
            if states.isEmpty {
                print("no keyed state in checkpoint \(metadata.checkpointID)")
                return 0
            }
            var printed = 0
            let output = InspectionSupport.Output()
            if self.csv { output.line((every ? "state," : "") + "backend,key_group,key,namespace,map_key,value,timestamp_ms") }
            for (index, state) in states.enumerated() {
                if every && !self.json && !self.csv { output.line((index == 0 ? "" : "\n") + "== state \(state)") }
                let request = DumpRequest(
                    state: state, backendID: self.backendID, keyGroup: self.keyGroup, key: self.key,
                    namespace: self.namespace, atSQN: self.atSqn, scratchDirectory: scratch, operatorName: self.operatorName)
                var inState = 0
                try inspector.dump(metadata, request) { entry throws(CheckpointError) -> Bool in
                    if let limit = self.limit, printed >= limit { return false }
                    printed += 1
                    inState += 1
                    output.line(self.line(entry, withState: every))
                    return true
                }
                if inState == 0 && !self.json && !self.csv { output.line("no entries") }
                if let limit = self.limit, printed >= limit { break }
            }
            output.flush()
            return 0
        }
    }

    /// One entry as text, JSON or CSV; with `withState`, the CSV row starts with the state's name (JSON always
    /// has it).
    private func line(_ entry: DumpEntry, withState: Bool) -> String {
        if self.json { return entry.jsonLine }
        if self.csv {
            let fields = [entry.backendID, "\(entry.keyGroup)", entry.key, entry.namespace, entry.userKey ?? "", entry.value,
                          entry.timestampMilliseconds.map(String.init) ?? ""]
            return ((withState ? [entry.state] : []) + fields).map(Self.csv).joined(separator: ",")
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
