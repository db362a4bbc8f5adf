import ArgumentParser
import Checkpointing
import Foundation
import Inspection

/// `weir diff A B`: per state, the keys added, removed and changed between two checkpoints.
struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two checkpoints state by state: entries added, removed and changed.",
        discussion: """
            Dumps every state of both checkpoints (see `weir dump`) and compares entries by backend, key, \
            namespace and map key. Prints a summary per state, then the differing entries (up to --limit).
            Exit 0 whether or not they differ.

            Example:
              weir diff /data/checkpoints/job-1/chk-41 /data/checkpoints/job-1/chk-42 --json
            """
    )

    @Argument(help: "The older checkpoint (chk-<id> folder or savepoint directory).")
    var first: String

    @Argument(help: "The newer checkpoint.")
    var second: String

    @Option(help: "Only this state.")
    var state: String?

    @Option(help: "Print at most this many differing entries per state.")
    var limit: Int = 20

    @Flag(help: "One JSON object per state (counts) and per differing entry.")
    var json = false

    struct Summary: Encodable {
        var state: String
        var added: Int
        var removed: Int
        var changed: Int
        var unchanged: Int
    }

    struct Change: Encodable {
        var state: String
        var change: String
        var entry: String
        var before: String?
        var after: String?
    }

    func run() throws {
        try InspectionSupport.run { () throws(CheckpointError) -> Int32 in
            let (firstInspector, firstMetadata) = try CheckpointInspector.checkpoint(at: self.first)
            let (secondInspector, secondMetadata) = try CheckpointInspector.checkpoint(at: self.second)
            let all = Set((firstMetadata.backends + secondMetadata.backends).flatMap { $0.states.map(\.name) }).sorted()
            let names = all.filter { self.state == nil || $0 == self.state }
            if names.isEmpty, let state = self.state {
                throw CheckpointError(
                    code: .invalidArgument,
                    message: "neither checkpoint has a state '\(state)'; their states: \(all.joined(separator: ", "))")
            }
            let scratch = InspectionSupport.scratchDirectory("weir-diff")
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            for name in names {
                let before = try Self.entries(firstInspector, firstMetadata, name, scratch + "/a")
                let after = try Self.entries(secondInspector, secondMetadata, name, scratch + "/b")
                var changes: [Change] = []
                var summary = Summary(state: name, added: 0, removed: 0, changed: 0, unchanged: 0)
                for (entry, value) in after.sorted(by: { $0.key < $1.key }) {
                    if let old = before[entry] {
                        if old == value { summary.unchanged += 1 } else {
                            summary.changed += 1
                            changes.append(Change(state: name, change: "changed", entry: entry, before: old, after: value))
                        }
                    } else {
                        summary.added += 1
                        changes.append(Change(state: name, change: "added", entry: entry, before: nil, after: value))
                    }
                }
                for (entry, value) in before.sorted(by: { $0.key < $1.key }) where after[entry] == nil {
                    summary.removed += 1
                    changes.append(Change(state: name, change: "removed", entry: entry, before: value, after: nil))
                }
                if self.json {
                    print(InspectionSupport.jsonLine(summary))
                    for change in changes.prefix(self.limit) { print(InspectionSupport.jsonLine(change)) }
                } else {
                    print("\(name): \(summary.added) added, \(summary.removed) removed, \(summary.changed) changed, "
                          + "\(summary.unchanged) unchanged")
                    for change in changes.prefix(self.limit) {
                        print("  \(change.change) \(change.entry): \(change.before ?? "-") -> \(change.after ?? "-")")
                    }
                }
            }
            return 0
        }
    }

    /// A state's entries as `backend kg key ns [map key]` → value (empty when the checkpoint lacks the state).
    private static func entries(
        _ inspector: CheckpointInspector, _ metadata: CheckpointMetadata, _ state: String, _ scratch: String
    ) throws(CheckpointError) -> [String: String] {
        guard metadata.backends.contains(where: { $0.states.contains { $0.name == state } }) else { return [:] }
        var entries: [String: String] = [:]
        try inspector.dump(metadata, DumpRequest(state: state, scratchDirectory: scratch)) { entry in
            let id = "\(entry.backendID) kg \(entry.keyGroup) key \(entry.key)"
                + (entry.namespace == "null" ? "" : " ns \(entry.namespace)") + (entry.userKey.map { " [\($0)]" } ?? "")
            entries[id] = entry.value
            return true
        }
        return entries
    }
}
