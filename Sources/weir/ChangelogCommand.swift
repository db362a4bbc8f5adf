import ArgumentParser
import Checkpointing
import Inspection
import KeyedState
import StateCore

/// `weir changelog CHECKPOINT`: the change records a checkpoint references.
struct ChangelogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "changelog",
        abstract: "Print the changelog records a checkpoint references (after its materialization).",
        discussion: """
            One line per record: backend, SQN, operation, state, key group, key and value (hex). Streams.

            Example:
              weir changelog /data/checkpoints/job-1/chk-42 --from-sqn 1000 --to-sqn 1100 --json
            """
    )

    @Argument(help: "A chk-<id> folder.")
    var checkpoint: String

    @Option(help: "Only this backend (operator/subtask).")
    var backend: String?

    @Option(help: "The first SQN to print.")
    var fromSqn: UInt64 = 0

    @Option(help: "Print SQNs below this one.")
    var toSqn: UInt64 = .max

    @Option(help: "Stop after this many records.")
    var limit: Int?

    @Flag(help: "One JSON object per record.")
    var json = false

    struct Row: Encodable {
        var backend: String
        var sqn: UInt64
        var op: String
        var state: String
        var key_group: Int
        var key_hex: String
        var primary_length: Int
        var value_hex: String
    }

    func validate() throws {
        guard self.fromSqn <= self.toSqn else { throw ValidationError("--from-sqn must not exceed --to-sqn") }
    }

    func run() throws {
        try InspectionSupport.run { () throws(CheckpointError) -> Int32 in
            let (inspector, metadata) = try CheckpointInspector.checkpoint(at: self.checkpoint)
            if let backend = self.backend, metadata.backend(backend) == nil {
                throw CheckpointError(
                    code: .invalidArgument,
                    message: "checkpoint \(metadata.checkpointID) has no backend '\(backend)'; it has "
                        + metadata.backends.map(\.backendID).joined(separator: ", "))
            }
            var printed = 0
            try inspector.changelog(of: metadata, backendID: self.backend, sqns: self.fromSqn..<self.toSqn) { record in
                if let limit = self.limit, printed >= limit { return }
                printed += 1
                let row = Row(
                    backend: record.backendID, sqn: record.sqn, op: "\(record.kind)", state: record.state,
                    key_group: record.keyGroup, key_hex: record.key.hexString,
                    primary_length: record.primaryLength, value_hex: record.value.hexString)
                if self.json {
                    print(InspectionSupport.jsonLine(row))
                } else {
                    print("\(row.backend)  \(row.sqn)  \(row.op)  \(row.state)  kg \(row.key_group)  key \(row.key_hex)"
                          + (row.value_hex.isEmpty ? "" : "  value \(row.value_hex)"))
                }
            }
            if !self.json && printed == 0 { print("no records in that range") }
            return 0
        }
    }
}
