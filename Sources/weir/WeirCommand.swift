import ArgumentParser

/// The `weir` command line: the demo and read-only checkpoint inspection.
@main
struct WeirCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weir",
        abstract: "Weir: fault-tolerant stateful stream processing for Swift.",
        subcommands: [
            DemoCommand.self, RunCommand.self, CheckpointsCommand.self, ShowCommand.self, DumpCommand.self, DiffCommand.self,
            ChangelogCommand.self, VerifyCommand.self, SavepointCommand.self, GCCommand.self,
        ]
    )
}
