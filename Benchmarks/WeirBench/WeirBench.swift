import ArgumentParser
import Foundation

/// `weir-bench`: benchmarks that measure Weir against its reference (the raw RocksDB C API) in the same run.
@main
struct WeirBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weir-bench",
        abstract: "Measure Weir against raw RocksDB in the same run (use a release build).",
        subcommands: [StateBenchmark.self, CheckpointBenchmark.self, InspectBenchmark.self, UnalignedBenchmark.self, RecoveryBenchmark.self, ReportCommand.self, TortureCommand.self, SoakCommand.self]
    )
}

/// `$TMPDIR/weir-bench-<name>-<pid>` (or under `/tmp`): a benchmark's default scratch directory.
func benchScratchDirectory(_ name: String) -> String {
    (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/weir-bench-\(name)-\(getpid())"
}
