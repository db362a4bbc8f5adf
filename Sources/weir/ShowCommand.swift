import ArgumentParser
import Checkpointing
import Inspection

/// `weir show CHECKPOINT`: one checkpoint's metadata.
struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show a checkpoint's metadata: backends, key groups, states, materialization, changelog, files.",
        discussion: """
            CHECKPOINT is a chk-<id> folder of a checkpoint root, or a savepoint directory.

            Example:
              weir show /data/checkpoints/job-1/chk-42
            """
    )

    @Argument(help: "A chk-<id> folder or a savepoint directory.")
    var checkpoint: String

    @Flag(help: "The metadata as one JSON object.")
    var json = false

    func run() throws {
        try InspectionSupport.run { () throws(CheckpointError) -> Int32 in
            let (inspector, metadata) = try CheckpointInspector.checkpoint(at: self.checkpoint)
            if self.json {
                print(InspectionSupport.jsonLine(metadata))
                return 0
            }
            print("\(metadata.kind.rawValue) \(metadata.checkpointID) in \(inspector.root), taken at "
                  + "\(metadata.timestampMilliseconds) ms since 1970, \(metadata.backends.count) backend(s)")
            for name in metadata.operatorState.keys.sorted() {
                print("operator state '\(name)': \(InspectionSupport.bytes(metadata.operatorState[name]!.count))")
            }
            if let tasks = metadata.tasks, !tasks.isEmpty {
                var rows = [["task", "of", "operator state", "channel state"]]
                for task in tasks {
                    rows.append([
                        "\(task.vertex)/\(task.subtask)", "\(task.parallelism)",
                        task.operatorState.keys.sorted().map { "\($0)=\(task.operatorState[$0]!)" }.joined(separator: " "),
                        task.channelState.map { "\($0.path) (\(InspectionSupport.bytes(task.inflightBytes)) in flight)" } ?? "-",
                    ])
                }
                print("")
                print(InspectionSupport.table(rows))
            }
            for backend in metadata.backends {
                print("")
                print("backend \(backend.backendID): \(backend.strategy.rawValue) on \(backend.engine), key groups "
                      + "\(backend.keyGroups) of \(backend.maxParallelism), key \(backend.keySchema), next SQN \(backend.sqn)")
                var states = [["column", "state", "kind", "namespace", "value", "map key", "ttl"]]
                for (column, state) in backend.states.enumerated() {
                    states.append([
                        "\(column)", state.name, state.kind.rawValue, "\(state.namespaceSchema)", "\(state.valueSchema)",
                        state.userKeySchema.map { "\($0)" } ?? "-",
                        state.ttl.map { "\($0.timeToLiveMilliseconds) ms" } ?? "-",
                    ])
                }
                print(InspectionSupport.table(states))
                if let materialization = backend.materialization {
                    print("materialization \(materialization.id) at SQN \(materialization.sqn) "
                          + "(\(materialization.format.rawValue)): \(materialization.files.count) files, "
                          + InspectionSupport.bytes(materialization.bytes))
                    for file in materialization.files {
                        print("  \(file.path)  \(InspectionSupport.bytes(file.size))"
                              + (file.localName.map { "  (\($0))" } ?? ""))
                    }
                } else {
                    print("no materialization: the changelog starts at SQN 0")
                }
                if !backend.changelog.isEmpty {
                    print("changelog: \(backend.changelog.count) section(s), SQN "
                          + "\(backend.changelog.map(\.firstSQN).min()!)..<\(backend.changelog.map(\.endSQN).max()!), "
                          + InspectionSupport.bytes(backend.changelogBytes))
                    for section in backend.changelog {
                        print("  \(section.file.path) @\(section.offset)+\(section.length)  SQN "
                              + "\(section.firstSQN)..<\(section.endSQN)")
                    }
                }
            }
            return 0
        }
    }
}
