import ArgumentParser
import Checkpointing
import Foundation
import Runtime
import Synchronization

/// `weir run`: runs a built-in job on the streaming runtime.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a built-in job on the streaming runtime.",
        subcommands: [KeyedCountCommand.self]
    )
}

/// Options every built-in job shares: checkpointing, alignment, parallelism, duration.
struct JobOptions: ParsableArguments {
    @Option(help: "Subtasks per vertex.")
    var parallelism: Int = 2

    @Option(help: "Seconds to run (0: until the generator's --records are done).")
    var duration: Double = 10

    @Option(help: "Checkpoint interval in milliseconds (0: no checkpoints).")
    var checkpointInterval: Int = 1_000

    @Option(help: "Snapshot strategy: changelog, incremental or full.")
    var strategy: String = "changelog"

    @Option(help: "Changelog materialization interval in seconds.")
    var materializationInterval: Double = 30

    @Option(help: "Barrier alignment: aligned, unaligned, or timeout (aligned, switching to unaligned after --alignment-timeout).")
    var alignment: String = "aligned"

    @Option(help: "Alignment timeout in milliseconds (with --alignment timeout).")
    var alignmentTimeout: Int = 50

    @Option(help: "Sink sleep in microseconds after every 100 records (0: none); a slow sink backpressures the job.")
    var sinkThrottle: Int = 0

    @Option(help: "Checkpoint root. Default: a folder under $TMPDIR kept between runs of this command.")
    var checkpointDirectory: String?

    @Flag(help: "Resume from the latest completed checkpoint in the checkpoint root (after a crash or kill -9).")
    var restore = false

    @Option(help: "Keyed state engine: rocksdb or heap.")
    var engine: String = "rocksdb"

    func validate() throws {
        guard self.parallelism >= 1 && self.parallelism <= 128 else { throw ValidationError("--parallelism must be in 1...128") }
        guard self.duration >= 0, self.checkpointInterval >= 0 else { throw ValidationError("--duration and --checkpoint-interval must not be negative") }
        guard ["changelog", "incremental", "full"].contains(self.strategy) else { throw ValidationError("--strategy must be changelog, incremental or full") }
        guard ["aligned", "unaligned", "timeout"].contains(self.alignment) else { throw ValidationError("--alignment must be aligned, unaligned or timeout") }
        guard ["rocksdb", "heap"].contains(self.engine) else { throw ValidationError("--engine must be rocksdb or heap") }
    }

    var snapshotStrategy: SnapshotStrategy {
        .named(SnapshotStrategy.Kind(rawValue: self.strategy) ?? .changelog,
               materializationInterval: .milliseconds(Int64(self.materializationInterval * 1000)))
    }

    var alignmentMode: AlignmentMode {
        AlignmentMode(name: self.alignment, timeout: .milliseconds(self.alignmentTimeout)) ?? .aligned
    }
}

/// `weir run keyed-count`: the standard workload with a progress line per second.
struct KeyedCountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keyed-count",
        abstract: "Count records per key with checkpoints: generator → keyed count (value states) → sink.",
        discussion: """
            The generator (seeded keys uniform in [0, --keys), --payload bytes) feeds a keyed function holding a \
            count and the last payload per key (value states on RocksDB, changelog checkpoints), into a counting \
            sink (or exactly-once files with --output). Prints a progress line per second and a summary.

            Kill it (even with kill -9) and run it again with --restore: it resumes from the latest completed \
            checkpoint.

            Example:
              weir run keyed-count --keys 1000000 --payload 100 --duration 10 --checkpoint-directory /tmp/kc
              weir run keyed-count --restore --checkpoint-directory /tmp/kc
            """
    )

    @Option(help: "Distinct keys.")
    var keys: Int64 = 1_000_000

    @Option(help: "Payload bytes per record.")
    var payload: Int = 100

    @Option(help: "Records in total (0: unbounded, run for --duration).")
    var records: Int64 = 0

    @Option(help: "Records per second over all sources (0: as fast as possible).")
    var rate: Double = 0

    @Option(help: "Write exactly-once 'key,count' lines into this directory instead of counting.")
    var output: String?

    @OptionGroup var job: JobOptions

    func validate() throws {
        guard self.keys > 0, self.payload >= 0, self.records >= 0, self.rate >= 0 else {
            throw ValidationError("--keys must be positive; --payload, --records and --rate must not be negative")
        }
    }

    func run() throws {
        let base = (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/weir-keyed-count"
        var settings = KeyedCountRun.Settings(workingDirectory: base + "/work-\(getpid())")
        settings.generator = GeneratorSource.Configuration(
            keys: self.keys, payloadBytes: self.payload, count: self.records > 0 ? self.records : nil,
            rate: self.rate > 0 ? self.rate : nil)
        settings.parallelism = self.job.parallelism
        settings.duration = self.job.duration > 0 ? .milliseconds(Int64(self.job.duration * 1000)) : nil
        let checkpoints = self.job.checkpointDirectory ?? base + "/checkpoints"
        settings.checkpointDirectory = self.job.checkpointInterval > 0 ? checkpoints : nil
        settings.interval = .milliseconds(self.job.checkpointInterval)
        settings.strategy = self.job.snapshotStrategy
        settings.alignment = self.job.alignmentMode
        settings.sinkThrottle = self.job.sinkThrottle > 0 ? .microseconds(self.job.sinkThrottle) : nil
        settings.outputDirectory = self.output
        settings.restore = self.job.restore
        settings.engine = self.job.engine == "heap" ? .heap : .rocksDB(.perOperator)
        if !self.job.restore, settings.checkpointDirectory != nil { try? FileManager.default.removeItem(atPath: checkpoints) }
        defer { try? FileManager.default.removeItem(atPath: settings.workingDirectory) }

        print("keyed-count: \(self.keys) keys, \(self.payload) B payload, parallelism \(self.job.parallelism), "
            + (settings.checkpointDirectory.map { "\(self.job.strategy) checkpoints every \(self.job.checkpointInterval) ms (\(self.job.alignment)) into \($0)" } ?? "no checkpoints"))
        let summary: KeyedCountRun.Summary
        let previous = Previous()
        do {
            summary = try KeyedCountRun.run(settings) { sample in
                var line = String(format: "%4ds  %9d records/s", sample.second, sample.recordsPerSecond)
                if let last = sample.progress.lastCheckpoint {
                    line += String(format: "  checkpoint %d: %.0f ms (start delay %.0f, align %.0f, sync %.0f), %@ (state %@)",
                        last.checkpointID, last.endToEnd.seconds * 1000, last.maxStartDelay.seconds * 1000,
                        last.maxAlignment.seconds * 1000, last.maxSynchronous.seconds * 1000,
                        RunFormat.bytes(last.checkpointedBytes), RunFormat.bytes(last.stateBytes))
                    if last.inflightBytes > 0 { line += ", in-flight \(RunFormat.bytes(last.inflightBytes))" }
                }
                let blocked = previous.swap(sample.progress.backPressured)
                let share = (sample.progress.backPressured - blocked).seconds / Double(self.job.parallelism)
                if share > 0.005 { line += String(format: "  sources blocked %.0f%%", min(share, 1) * 100) }
                print(line)
            }
        } catch {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
        RunFormat.printSummary(summary)
    }
}

/// The last backpressure total the progress line saw.
final class Previous: Sendable {
    private let value = Mutex(Duration.zero)
    /// Stores `new` and returns what was there.
    func swap(_ new: Duration) -> Duration { self.value.withLock { old in defer { old = new }; return old } }
}

/// Formatting shared by the run commands.
enum RunFormat {
    static func bytes(_ count: Int) -> String {
        switch count {
        case ..<1_024: "\(count) B"
        case ..<(1 << 20): String(format: "%.1f KiB", Double(count) / 1024)
        case ..<(1 << 30): String(format: "%.1f MiB", Double(count) / 1_048_576)
        default: String(format: "%.2f GiB", Double(count) / 1_073_741_824)
        }
    }

    static func printSummary(_ summary: KeyedCountRun.Summary) {
        let result = summary.result
        let completed = result.checkpoints.filter { $0.status == .completed }
        let durations = completed.map { $0.endToEnd.seconds * 1000 }.sorted()
        func percentile(_ p: Double) -> Double { durations.isEmpty ? 0 : durations[min(durations.count - 1, Int(Double(durations.count) * p))] }
        print(String(format: "summary: %d records in %.1f s (%.0f records/s)", summary.records, summary.elapsed.seconds,
            Double(summary.records) / max(summary.elapsed.seconds, 0.001)))
        print(String(format: "checkpoints: %d completed, %d aborted; duration p50 %.0f ms, p99 %.0f ms, max %.0f ms",
            completed.count, result.checkpoints.count - completed.count, percentile(0.5), percentile(0.99), durations.last ?? 0))
        if let last = completed.last {
            print("last checkpoint: \(last.checkpointID), state \(bytes(last.stateBytes)), in-flight \(bytes(last.inflightBytes))")
        }
        if !result.restoredFrom.isEmpty { print("restored from checkpoint(s): \(result.restoredFrom.map(String.init).joined(separator: ", "))") }
        for failure in result.failures { print("failure (restarted): \(failure.message)") }
    }
}

extension Duration {
    /// Seconds as a `Double`.
    var seconds: Double { Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18 }
}
