import ArgumentParser
import Checkpointing
import Foundation
import ObjectStore
import Runtime
import Synchronization

/// `weir-bench recovery`: the standard workload on the real runtime and backend, with one failure.
struct RecoveryBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery",
        abstract: "Throughput, checkpoint duration/size and recovery time of the standard workload, per mode.",
        discussion: """
            Standard workload: parallelism 2, generator (seed 42, keys uniform in [0, 1,000,000), 100 B payload), \
            keyed function with a count and the last payload (value states), discarding sink, 1 s checkpoints to a \
            local directory. Every number is a flag. With --failure exception a task throws at --failure-at; with \
            --failure kill the job runs in a child process that is killed with SIGKILL and started again with \
            restore. Measures steady-state throughput after the warm-up, checkpoint p50/p99/max, bytes uploaded \
            per checkpoint vs the state size, the checkpoint root at the end, in-flight bytes, and recovery time \
            from the failure to state restored (fetch/open/replay), to the first record and to caught up, records \
            reprocessed, and peak RSS.

            Example:
              swift run -c release weir-bench recovery --strategy changelog --failure exception --json
            """
    )

    @OptionGroup var options: RecoveryOptions

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @Flag(help: "Also run the bare C-API loop (the same RocksDB operations per record, nothing else) for comparison.")
    var bareLoop = false

    @Flag(help: "Before the summary, print each checkpoint's duration, phases and bytes (not with --json).")
    var checkpointLog = false

    @Flag(help: "Before the summary, print the source rate in 250 ms windows around the failure (not with --json).")
    var timeline = false

    @Option(help: "Scratch directory (removed afterwards). Default: $TMPDIR/weir-bench-recovery-<pid>.")
    var directory: String?

    @Option(help: .hidden) var childEvents: String?
    @Option(help: .hidden) var childRoot: String?
    @Option(help: .hidden) var childWork: String?
    @Option(help: .hidden) var childStop: Int64?
    @Flag(help: .hidden) var childRestore = false

    func run() throws {
        if let events = self.childEvents, let root = self.childRoot, let work = self.childWork, let stop = self.childStop {
            try Self.runChild(self.options, events: events, root: root, work: work, stop: stop, restore: self.childRestore)
            return
        }
        let directory = self.directory ?? benchScratchDirectory("recovery")
        var result = try Self.measure(self.options, directory: directory)
        if self.bareLoop {
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let bare = try BareKeyedCountLoop.run(self.options, directory: directory, seconds: min(self.options.duration - self.options.warmup, 10))
            result.bareCRps = bare
            result.throughputVsBare = bare > 0 ? result.throughputRps / bare : nil
        }
        if self.checkpointLog && !self.json { print(result.checkpointLog.joined(separator: "\n")) }
        if self.timeline && !self.json { print(result.timeline.joined(separator: "\n")) }
        print(self.json ? result.jsonLine : result.table)
    }

    /// Runs one case and computes its figures.
    static func measure(_ options: RecoveryOptions, directory: String) throws -> RecoveryResult {
        try? FileManager.default.removeItem(atPath: directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let root = benchRunRoot(under: options.checkpointDirectory) ?? directory + "/checkpoints"
        defer { removeObjectStoreRoot(root) }
        let work = directory + "/work"
        let start = RecoveryTrace.now
        let stop = start + Int64(options.duration * 1000)
        let failAt = start + Int64(options.failureAt * 1000)
        var trace = RecoveryTrace(startedAt: start)
        switch options.failure {
        case "kill":
            trace = try Self.killRun(options, directory: directory, root: root, work: work, start: start, failAt: failAt, stop: stop)
        default:
            let collected = EventLog()
            try RecoveryJob.run(
                options, root: root, work: work, restore: false, failAt: options.failure == "exception" ? failAt : nil,
                stopAt: stop) { collected.add($0) }
            trace = collected.trace(startedAt: start)
        }
        return RecoveryResult(options: options, trace: trace, root: root)
    }

    /// The job in a child process, killed at `failAt` and started again with restore.
    static func killRun(
        _ options: RecoveryOptions, directory: String, root: String, work: String, start: Int64, failAt: Int64, stop: Int64
    ) throws -> RecoveryTrace {
        var childOptions = options
        childOptions.failure = "none"
        func launch(_ events: String, restore: Bool) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
            process.arguments = ["recovery"] + childOptions.arguments + [
                "--child-events", events, "--child-root", root, "--child-work", work, "--child-stop", "\(stop)",
            ] + (restore ? ["--child-restore"] : [])
            process.standardOutput = Foundation.FileHandle.nullDevice
            var environment = ProcessInfo.processInfo.environment
            // Each process its own object cache; a fresh machine restarts with an empty one.
            environment["WEIR_CACHE_DIRECTORY"] = "\(directory)/object-cache-\(restore && options.freshMachine ? 1 : 0)"
            process.environment = environment
            try process.run()
            return process
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let first = try launch(directory + "/events-0.jsonl", restore: false)
        while RecoveryTrace.now < failAt && first.isRunning { usleep(5_000) }
        guard first.isRunning else { throw BenchFailure(description: "the job process ended before the failure time") }
        kill(first.processIdentifier, SIGKILL)
        let failedAt = RecoveryTrace.now
        first.waitUntilExit()
        if options.freshMachine { try? FileManager.default.removeItem(atPath: work) }
        let second = try launch(directory + "/events-1.jsonl", restore: true)
        second.waitUntilExit()
        guard second.terminationStatus == 0 else { throw BenchFailure(description: "the restarted job process failed (exit \(second.terminationStatus))") }
        var trace = RecoveryTrace(startedAt: start)
        for (segment, name) in ["events-0.jsonl", "events-1.jsonl"].enumerated() {
            var part = RecoveryTrace(startedAt: start)
            let text = (try? String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") {
                if let event = try? JSONDecoder().decode(RecoveryTrace.Event.self, from: Data(line.utf8)) { part.add(event) }
            }
            trace.samples += part.samples.map { RecoveryTrace.Sample(t: $0.t, records: $0.records, segment: segment) }
            trace.checkpoints += part.checkpoints
            var attempts = part.attempts
            if segment == 0, !attempts.isEmpty {
                attempts[attempts.count - 1].failedAt = failedAt
                attempts[attempts.count - 1].sourceRecordsAtFailure = part.samples.last { $0.t <= failedAt }?.records
            }
            trace.attempts += attempts
            trace.peakRSSKiB = max(trace.peakRSSKiB, part.peakRSSKiB)
        }
        return trace
    }

    /// The child side of a kill run: runs until `stop` (or until killed), appending events to a file.
    static func runChild(_ options: RecoveryOptions, events: String, root: String, work: String, stop: Int64, restore: Bool) throws {
        _ = FileManager.default.createFile(atPath: events, contents: nil)
        guard let file = Foundation.FileHandle(forWritingAtPath: events) else { throw BenchFailure(description: "cannot write \(events)") }
        let writer = EventFile(file)
        try RecoveryJob.run(options, root: root, work: work, restore: restore, failAt: nil, stopAt: stop) { writer.write($0) }
    }
}

/// Events collected in this process.
final class EventLog: Sendable {
    private let events = Mutex<[RecoveryTrace.Event]>([])
    func add(_ event: RecoveryTrace.Event) { self.events.withLock { $0.append(event) } }
    func trace(startedAt: Int64) -> RecoveryTrace {
        var trace = RecoveryTrace(startedAt: startedAt)
        for event in self.events.withLock({ $0 }) { trace.add(event) }
        return trace
    }
}

/// Events written as JSON lines (each written whole, so a killed process leaves complete lines).
final class EventFile: @unchecked Sendable {
    private let file: Mutex<Foundation.FileHandle>
    init(_ file: Foundation.FileHandle) { self.file = Mutex(file) }
    func write(_ event: RecoveryTrace.Event) {
        guard let data = try? JSONEncoder().encode(event) else { return }
        self.file.withLock { $0.write(data + Data("\n".utf8)) }
    }
}
