import ArgumentParser
import Checkpointing
import Foundation
import Inspection
import Logging
import Monitoring
import Runtime
import Synchronization

/// `weir run`: runs a built-in job on the streaming runtime.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a built-in job on the streaming runtime.",
        subcommands: [KeyedCountCommand.self, WordCountCommand.self]
    )
}

/// Options every built-in job shares: checkpointing, alignment, parallelism, duration.
struct JobOptions: ParsableArguments {
    @Option(help: "Subtasks per vertex.")
    var parallelism: Int = 2

    @Option(help: "Seconds to run (0: until the input ends). Default: 10 for keyed-count, 0 for word-count.")
    var duration: Double?

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

    @Option(help: "Checkpoint root. Default: a folder under $TMPDIR kept between runs of this command (a fresh run clears it).")
    var checkpointDirectory: String?

    @Flag(help: "Resume from the latest completed checkpoint in the checkpoint root (after a crash or kill -9).")
    var restore = false

    @Option(help: "Resume from this retained completed checkpoint (when the latest one is damaged: see `weir verify`).")
    var restoreCheckpoint: Int64?

    @Flag(help: "Start fresh on a --checkpoint-directory that holds checkpoints: delete them first (under the root's lock). Without it, such a start is refused.")
    var clearCheckpoints = false

    @Option(help: "Buffers per channel before its producer blocks (backpressure).")
    var channelCapacity: Int = 4

    @Option(help: "Bytes of records per channel buffer (buffer debloating may send smaller ones).")
    var bufferSize: Int = 32 * 1024

    @Option(help: "Keyed state engine: rocksdb or heap.")
    var engine: String = "rocksdb"

    @Option(help: "Start from this savepoint directory: its keyed state (on either engine; redistributed by key group at another parallelism), source positions and sink transactions.")
    var fromSavepoint: String?

    @Option(help: "On Ctrl-C or SIGTERM, after the last checkpoint, also write a savepoint of it into this new directory (self-contained; start from it with --from-savepoint).")
    var savepointOnStop: String?

    @Option(help: "Serve Prometheus metrics on http://127.0.0.1:PORT/metrics while the job runs (0: any free port, printed at start).")
    var metricsPort: Int?

    @Option(help: "Log level on stderr: trace, debug, info, notice, warning, error or critical (debug shows checkpoints, materializations, restores and deletions).")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard self.parallelism >= 1 && self.parallelism <= 128 else { throw ValidationError("--parallelism must be in 1...128") }
        guard (self.duration ?? 0) >= 0, self.checkpointInterval >= 0 else { throw ValidationError("--duration and --checkpoint-interval must not be negative") }
        guard self.channelCapacity >= 1, self.bufferSize >= 16 else {
            throw ValidationError("--channel-capacity must be at least 1 and --buffer-size at least 16")
        }
        let restores = [self.restore, self.restoreCheckpoint != nil, self.clearCheckpoints, self.fromSavepoint != nil]
            .filter { $0 }.count
        guard restores <= 1 else {
            throw ValidationError("--restore, --restore-checkpoint, --from-savepoint and --clear-checkpoints exclude each other")
        }
        if let port = self.metricsPort, !(0...65_535).contains(port) { throw ValidationError("--metrics-port must be in 0...65535") }
        if self.savepointOnStop != nil && self.checkpointInterval == 0 {
            throw ValidationError("--savepoint-on-stop needs checkpoints (a --checkpoint-interval above 0)")
        }
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

    /// Where the job restores from.
    var restoreSource: RestoreSource {
        if let id = self.restoreCheckpoint { return .checkpoint(id) }
        if let savepoint = self.fromSavepoint { return .savepoint(savepoint) }
        return self.restore ? .latest : .empty
    }

    /// How long to run (nil: until the input ends).
    func runDuration(default seconds: Double) -> Duration? {
        let value = self.duration ?? seconds
        return value > 0 ? .milliseconds(Int64(value * 1000)) : nil
    }

    /// The command's folder under `$TMPDIR` (`weir-<job>`): its default checkpoint root and the working
    /// directories of its runs. Working directories of runs whose process is gone (killed) are removed.
    static func base(job: String) -> String {
        let base = (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/weir-\(job)"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] where name.hasPrefix("work-") {
            guard let pid = Int32(name.dropFirst(5)), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? FileManager.default.removeItem(atPath: "\(base)/\(name)") }
        }
        return base
    }

    /// The checkpoint root, and whether a fresh start clears it: the default root is this command's own and is
    /// cleared (under its lock, so never while another run holds it); a root the user names is cleared only with
    /// `--clear-checkpoints`.
    func checkpointRoot(base: String) -> (root: String?, clear: Bool) {
        guard self.checkpointInterval > 0 else { return (nil, false) }
        guard let root = self.checkpointDirectory else { return (base + "/checkpoints", self.restoreSource == .empty) }
        return (root, self.clearCheckpoints)
    }

    /// The job's configuration (checkpointing, restore, engine, channels).
    func configuration(base: String, workingDirectory: String) -> JobConfiguration {
        let (root, clear) = self.checkpointRoot(base: base)
        var configuration = JobConfiguration(
            checkpointing: root.map {
                CheckpointConfiguration(
                    directory: $0, interval: .milliseconds(self.checkpointInterval), strategy: self.snapshotStrategy,
                    alignment: self.alignmentMode)
            },
            workingDirectory: workingDirectory, engine: self.engine == "heap" ? .heap : .rocksDB(.perOperator),
            restore: self.restoreSource, bufferSize: self.bufferSize, channelCapacity: self.channelCapacity)
        configuration.clearCheckpointRoot = clear
        return configuration
    }

    /// The sink throttle (nil: none).
    var throttle: Duration? { self.sinkThrottle > 0 ? .microseconds(self.sinkThrottle) : nil }
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

            Ctrl-C (SIGINT) or SIGTERM stops it gracefully: a last checkpoint, the output committed, exit 0; \
            --restore then resumes with nothing reprocessed. A second signal stops it at once.

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
        let services = try RunServices.start(self.job)
        defer { services.close() }
        let base = JobOptions.base(job: "keyed-count")
        let configuration = self.job.configuration(base: base, workingDirectory: base + "/work-\(getpid())")
        var settings = KeyedCountRun.Settings(workingDirectory: configuration.workingDirectory)
        settings.generator = GeneratorSource.Configuration(
            keys: self.keys, payloadBytes: self.payload, count: self.records > 0 ? self.records : nil,
            rate: self.rate > 0 ? self.rate : nil)
        settings.parallelism = self.job.parallelism
        settings.duration = self.job.runDuration(default: 10)
        settings.checkpointDirectory = configuration.checkpointing?.directory
        settings.interval = .milliseconds(self.job.checkpointInterval)
        settings.strategy = self.job.snapshotStrategy
        settings.alignment = self.job.alignmentMode
        settings.sinkThrottle = self.job.throttle
        settings.outputDirectory = self.output
        settings.restoreSource = self.job.restoreSource
        settings.clearCheckpointRoot = configuration.clearCheckpointRoot
        settings.channelCapacity = self.job.channelCapacity
        settings.engine = configuration.engine
        settings.bufferSize = self.job.bufferSize
        defer { try? FileManager.default.removeItem(atPath: settings.workingDirectory) }

        print("keyed-count: \(self.keys) keys, \(self.payload) B payload, parallelism \(self.job.parallelism), "
            + RunFormat.checkpointing(self.job, root: settings.checkpointDirectory))
        let progress = RunFormat.progressPrinter(parallelism: self.job.parallelism)
        let stop = Mutex<GracefulStop?>(nil)
        settings.onStart = { execution in stop.withLock { $0 = GracefulStop(execution) } }
        defer { stop.withLock { $0?.remove() } }
        let summary: KeyedCountRun.Summary
        do { summary = try KeyedCountRun.run(settings, onSample: progress) } catch {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
        try RunFormat.finish(
            summary, options: self.job, root: settings.checkpointDirectory, scratch: settings.workingDirectory)
    }
}

/// `weir run word-count`: Flink's canonical example on the runtime, with a one-to-many operator chained to the source.
struct WordCountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "word-count",
        abstract: "Count words of a text file with checkpoints: file → flatMap(split) → keyed count → sink.",
        discussion: """
            Each subtask reads every parallelism-th line of --input, splits it into words (a flatMap chained to \
            the source: one line, many records), keys them by word into a count (a value state), and writes \
            exactly-once 'word,count' lines into --output (or counts them). Runs until the file is done.

            Kill it (even with kill -9) and run it again with --restore: it resumes from the latest completed \
            checkpoint, and the committed output holds every count exactly once.

            Ctrl-C (SIGINT) or SIGTERM stops it gracefully: a last checkpoint, the output committed, exit 0; \
            --restore then resumes with nothing reprocessed. A second signal stops it at once.

            Example:
              weir run word-count --input book.txt --output /tmp/wc-out --checkpoint-directory /tmp/wc
              weir run word-count --input book.txt --output /tmp/wc-out --checkpoint-directory /tmp/wc --restore
            """
    )

    @Option(help: "The text file to count (words are separated by spaces or tabs).")
    var input: String

    @Option(help: "Write exactly-once 'word,count' lines into this directory instead of counting.")
    var output: String?

    @OptionGroup var job: JobOptions

    func validate() throws {
        guard FileManager.default.isReadableFile(atPath: self.input) else {
            throw ValidationError("--input \(self.input) is missing or unreadable")
        }
    }

    func run() throws {
        let services = try RunServices.start(self.job)
        defer { services.close() }
        let base = JobOptions.base(job: "word-count")
        let configuration = self.job.configuration(base: base, workingDirectory: base + "/work-\(getpid())")
        defer { try? FileManager.default.removeItem(atPath: configuration.workingDirectory) }
        let job = StreamJob.wordCount(
            input: self.input, output: self.output, parallelism: self.job.parallelism, throttle: self.job.throttle)
        print("word-count: \(self.input), parallelism \(self.job.parallelism), "
            + RunFormat.checkpointing(self.job, root: configuration.checkpointing?.directory))
        let summary: SampledRun.Summary
        let execution = JobExecution(job: job, configuration: configuration)
        let stop = GracefulStop(execution)
        defer { stop.remove() }
        do {
            summary = try SampledRun.run(
                execution, duration: self.job.runDuration(default: 0),
                onSample: RunFormat.progressPrinter(parallelism: self.job.parallelism))
        } catch {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
        try RunFormat.finish(
            summary, options: self.job, root: configuration.checkpointing?.directory,
            scratch: configuration.workingDirectory)
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

    /// "changelog checkpoints every 1000 ms (aligned) into R", or "no checkpoints".
    static func checkpointing(_ options: JobOptions, root: String?) -> String {
        root.map { "\(options.strategy) checkpoints every \(options.checkpointInterval) ms (\(options.alignment)) into \($0)" }
            ?? "no checkpoints"
    }

    /// Prints a progress line per sample: records per second, the last checkpoint, how blocked the sources were.
    static func progressPrinter(parallelism: Int) -> @Sendable (SampledRun.Sample) -> Void {
        let previous = Previous()
        return { sample in
            var line = String(format: "%4ds  %9d records/s", sample.second, sample.recordsPerSecond)
            if let last = sample.progress.lastCheckpoint {
                line += String(format: "  checkpoint %d: %.0f ms (start delay %.0f, align %.0f, sync %.0f), %@ (state %@)",
                    last.checkpointID, last.endToEnd.seconds * 1000, last.maxStartDelay.seconds * 1000,
                    last.maxAlignment.seconds * 1000, last.maxSynchronous.seconds * 1000,
                    RunFormat.bytes(last.checkpointedBytes), RunFormat.bytes(last.stateBytes))
                if last.inflightBytes > 0 { line += ", in-flight \(RunFormat.bytes(last.inflightBytes))" }
            }
            let blocked = previous.swap(sample.progress.backPressured)
            let share = (sample.progress.backPressured - blocked).seconds / Double(parallelism)
            if share > 0.005 { line += String(format: "  sources blocked %.0f%%", min(share, 1) * 100) }
            print(line)
        }
    }

    /// Prints the summary; exits 1 when the run ended inside a failure no restart recovered from (e.g. every
    /// restore failed until --duration ran out), after printing that failure.
    static func finish(_ summary: SampledRun.Summary, options: JobOptions, root: String?, scratch: String) throws {
        if options.restore, summary.result.restoredFrom.isEmpty, let root {
            print("no completed checkpoint under \(root): started from the beginning")
        }
        printSummary(summary)
        if let directory = options.savepointOnStop, let stopped = summary.result.stoppedAt, let root {
            do throws(CheckpointError) {
                let inspector = try CheckpointInspector(root: root)
                let savepoint = try inspector.exportSavepoint(
                    try inspector.metadata(stopped), to: directory, scratchDirectory: scratch + "/savepoint")
                let bytes = savepoint.backends.flatMap { $0.materialization?.files ?? [] }.reduce(0) { $0 + $1.size }
                print("savepoint of checkpoint \(stopped) written to \(directory) (\(RunFormat.bytes(bytes))): start from it "
                    + "with --from-savepoint \(directory)")
            } catch {
                let message = "error: writing the savepoint of checkpoint \(stopped) into \(directory): \(error.message). "
                    + "Checkpoint \(stopped) itself is complete: resume with --restore, or run `weir savepoint` on it again.\n"
                FileHandle.standardError.write(Data(message.utf8))
                throw ExitCode(1)
            }
        }
        if let failure = summary.result.unrecoveredFailure {
            FileHandle.standardError.write(Data(
                "error: the job was stopped while recovering from a failure; it never ran again after: \(failure.message)\n".utf8))
            throw ExitCode(1)
        }
    }

    static func printSummary(_ summary: SampledRun.Summary) {
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
        if let stopped = result.stoppedAt {
            print("stopped with checkpoint \(stopped): resume with --restore (nothing is reprocessed)")
        }
        if !result.restoredFrom.isEmpty { print("restored from checkpoint(s): \(result.restoredFrom.map(String.init).joined(separator: ", "))") }
        for failure in result.failures { print("failure (restarted): \(failure.message)") }
    }
}

extension Duration {
    /// Seconds as a `Double`.
    var seconds: Double { Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18 }
}
