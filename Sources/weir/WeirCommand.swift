import ArgumentParser

/// The `weir` command line: demos now, checkpoint inspection as it lands.
@main
struct WeirCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weir",
        abstract: "Weir: fault-tolerant stateful stream processing for Swift.",
        subcommands: [DemoCommand.self]
    )
}
