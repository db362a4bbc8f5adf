import Checkpointing
import Foundation
import Inspection
import ObjectStore
import RocksKit
import Runtime
import StateCore
import Synchronization

/// Runs a `SimulationCase` to completion through every restart and checks it against the reference model: the
/// committed output holds every key's counts `1…c` exactly once, the root verifies clean with no file
/// unreferenced once a storage has opened it, and nothing trapped or hung.
public enum Simulation {
    /// What one case did and whether it diverged.
    public struct Outcome: Sendable, CustomStringConvertible {
        /// The case.
        public var simulation: SimulationCase
        /// What diverged from the model (empty: nothing).
        public var problems: [String] = []
        /// Checkpoints completed and aborted over every run.
        public var completed = 0
        public var aborted = 0
        /// Task failures the runtime restarted from, and runs started again after `run()` itself failed (a fault
        /// while opening the root or restoring, beyond the restart strategy).
        public var restarts = 0
        public var resubmissions = 0
        /// Storage faults injected (file system and wire).
        public var faults = 0
        /// The file-system faults injected, in order (latency spikes left out).
        public var injected: [FaultInjectingFileSystem.Injected] = []
        /// The request faults injected on object storage, in order (latency spikes left out).
        public var wireFaults: [FaultInjectingS3Proxy.Injected] = []
        /// Child processes killed with SIGKILL.
        public var kills = 0
        /// Wall time.
        public var elapsed: Duration = .zero

        /// Whether the case matched the model.
        public var passed: Bool { self.problems.isEmpty }

        public var description: String {
            let figures = "\(self.completed) checkpoints (\(self.aborted) aborted), \(self.restarts) restarts, "
                + "\(self.resubmissions) resubmissions, \(self.kills) kills, \(self.faults) storage faults, "
                + String(format: "%.1f s", Double(self.elapsed.components.seconds) + Double(self.elapsed.components.attoseconds) / 1e18)
            guard !self.passed else { return "ok   \(self.simulation.seed): \(figures)" }
            return "FAIL \(self.simulation)\n  \(figures)\n  " + self.problems.joined(separator: "\n  ")
                + (self.injected.isEmpty ? "" : "\n  storage faults: " + self.injected.map(\.description).joined(separator: "; "))
                + (self.wireFaults.isEmpty ? "" : "\n  request faults: " + self.wireFaults.map(\.description).joined(separator: "; "))
                + "\n  replay: \(self.simulation.replayCommand)"
        }
    }

    /// Counts what the runs report.
    private final class Tally: Sendable {
        let completed = Atomic<Int>(0)
        let aborted = Atomic<Int>(0)
    }

    /// A server and bucket for roots on object storage: each case's root is a fresh prefix in the bucket, and its
    /// requests go through a `FaultInjectingS3Proxy` at the case's fault rate.
    public struct ObjectStorage: Sendable {
        /// The server (not the proxy).
        public var configuration: S3Configuration
        /// The bucket, which must exist.
        public var bucket: String
        /// Creates the target.
        public init(configuration: S3Configuration, bucket: String) {
            self.configuration = configuration
            self.bucket = bucket
        }
    }

    /// Runs `simulation` in `directory` (created; the caller removes it). `deadline` bounds every run: a job
    /// still running then is cancelled and reported as hung.
    ///
    /// - Parameters:
    ///   - child: An executable that runs `simulate SEED DIRECTORY FAULT-RATE` (`weir-crash-child`): a case with
    ///     `killAfter` runs its first attempt there and is killed with SIGKILL; without one, the kill is skipped.
    ///   - objectStorage: Where the root goes when on object storage (nil: a local folder in `directory`).
    public static func run(
        _ simulation: SimulationCase, directory: String, deadline: Duration = .seconds(180), child: String? = nil,
        objectStorage: ObjectStorage? = nil
    ) -> Outcome {
        let started = ContinuousClock.now
        var simulation = simulation
        simulation.onObjectStorage = objectStorage != nil
        var outcome = Outcome(simulation: simulation)
        let output = directory + "/out"
        let root: String
        let base: any CheckpointFileSystem
        let checker: any CheckpointFileSystem
        var proxy: FaultInjectingS3Proxy?
        if let objectStorage {
            do {
                let wire = try FaultInjectingS3Proxy(
                    upstream: objectStorage.configuration, seed: simulation.seed, rates: .uniform(simulation.faultRate))
                proxy = wire
                root = "s3://\(objectStorage.bucket)/simulation/\(simulation.seed)-\(UInt32.random(in: 0...UInt32.max))"
                try? LocalFileSystem().createDirectory(directory)
                base = try ObjectStoreFileSystem(
                    configuration: wire.configuration,
                    cache: try ObjectCache(directory: directory + "/cache", capacity: 256 << 20))
                checker = try ObjectStoreFileSystem(
                    configuration: objectStorage.configuration,
                    cache: try ObjectCache(directory: directory + "/cache-check", capacity: 256 << 20))
            } catch {
                outcome.problems.append("object storage: \(error)")
                return outcome
            }
        } else {
            root = directory + "/checkpoints"
            base = LocalFileSystem()
            checker = LocalFileSystem()
        }
        defer { proxy?.close() }
        let faults = FaultInjectingFileSystem(
            base: base, seed: simulation.seed, rates: .uniform(simulation.faultRate), scope: root)
        let tally = Tally()
        let phases = Self.phases(simulation)
        var killed = false
        for (index, phase) in phases.enumerated() {
            var resubmissions = 0
            while true {
                if index == 0 && resubmissions == 0 && !killed, let killAfter = simulation.killAfter, let child,
                    objectStorage == nil
                {
                    killed = true
                    switch Self.runKilled(simulation, child: child, directory: directory, root: root, after: killAfter) {
                    case .killed:
                        outcome.kills += 1
                        resubmissions += 1
                        continue
                    case .finished:
                        break
                    case .exited:
                        // A fault while the child opened the root or restored: started again, as in-process.
                        resubmissions += 1
                        outcome.resubmissions += 1
                        continue
                    case .failed(let problem):
                        outcome.problems.append("phase 1 in a child: \(problem)")
                    }
                    break
                }
                let restore: RestoreSource = index == 0 && resubmissions == 0 ? .empty : .latest
                let execution = Self.execution(
                    simulation, parallelism: phase.parallelism, root: root, output: output, directory: directory,
                    faults: faults, restore: restore, tally: tally, stopAfterRecords: phase.stopAfter)
                let result = Self.runBounded(execution, deadline: deadline)
                switch result {
                case .hung:
                    outcome.problems.append("phase \(index + 1): the job was still running after \(deadline)")
                case .finished(let result):
                    outcome.restarts += result.failures.count
                    // A cancel may come while a restart is pending: the next phase recovers from it.
                    if let failure = result.unrecoveredFailure, phase.stopAfter == nil || simulation.gracefulStop {
                        outcome.problems.append("phase \(index + 1): stopped inside an unrecovered failure: \(failure.message)")
                    }
                case .failed(let error):
                    // A fault while opening the root or while restoring, beyond the restart strategy: a supervisor
                    // (systemd, Kubernetes) starts the job again from its latest checkpoint.
                    resubmissions += 1
                    outcome.resubmissions += 1
                    if resubmissions <= 10 && error.code != .invalidJob { continue }
                    outcome.problems.append("phase \(index + 1): run() failed \(resubmissions) times, last: \(error.message)")
                }
                break
            }
            if !outcome.problems.isEmpty { break }
        }
        faults.setArmed(false)
        proxy?.setArmed(false)
        outcome.completed = tally.completed.load(ordering: .relaxed)
        outcome.aborted = tally.aborted.load(ordering: .relaxed)
        outcome.injected = faults.injected.filter { $0.fault != "spike" }
        outcome.wireFaults = (proxy?.injected ?? []).filter { $0.fault != .spike }
        outcome.faults = outcome.injected.count + outcome.wireFaults.count
        if outcome.problems.isEmpty {
            outcome.problems += Self.check(simulation, root: root, output: output, fileSystem: checker)
        }
        outcome.elapsed = ContinuousClock.now - started
        return outcome
    }

    /// The runs of a case: its parallelism to the stop (if it rescales), then the rescaled one to the end.
    private static func phases(_ simulation: SimulationCase) -> [(parallelism: Int, stopAfter: Int64?)] {
        let firstRecords = simulation.rescaledParallelism == nil ? nil : Int64(simulation.records) / 2
        var phases: [(parallelism: Int, stopAfter: Int64?)] = [(simulation.parallelism, firstRecords)]
        if let rescaled = simulation.rescaledParallelism { phases.append((rescaled, nil)) }
        return phases
    }

    /// The child side of a kill: the first attempt of the first run, with the case's storage faults, on a local
    /// root in `directory` (what `runKilled` starts). Returns the exit status: 0 once the run ended by itself.
    public static func runFirstAttempt(_ simulation: SimulationCase, directory: String) -> Int32 {
        let root = directory + "/checkpoints"
        let faults = FaultInjectingFileSystem(seed: simulation.seed, rates: .uniform(simulation.faultRate), scope: root)
        let phase = Self.phases(simulation)[0]
        let execution = Self.execution(
            simulation, parallelism: phase.parallelism, root: root, output: directory + "/out", directory: directory,
            faults: faults, restore: .empty, tally: Tally(), stopAfterRecords: phase.stopAfter)
        do throws(RuntimeError) {
            _ = try execution.run()
            return 0
        } catch {
            FileHandle.standardError.write(Data("simulate: \(error.message)\n".utf8))
            return 1
        }
    }

    /// `weir-crash-child` beside this process's executable (a test bundle's or `weir-bench`'s build folder), if
    /// it was built.
    public static var childBesideExecutable: String? {
        let folder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        let path = folder + "/weir-crash-child"
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    private enum ChildRun {
        case killed
        case finished
        /// The run failed in the child (exit 1), before the kill.
        case exited(String)
        case failed(String)
    }

    /// Starts the first attempt in `child`, waits for its first completed checkpoint (a `_metadata` in the root),
    /// then `after` more, and kills it with SIGKILL (unless it ended first).
    private static func runKilled(
        _ simulation: SimulationCase, child: String, directory: String, root: String, after: Duration
    ) -> ChildRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: child)
        process.arguments = ["simulate", String(simulation.seed), directory, String(simulation.faultRate)]
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        do { try process.run() } catch { return .failed("cannot start \(child): \(error)") }
        let fileSystem = LocalFileSystem()
        let limit = ContinuousClock.now + .seconds(120)
        func checkpointed() -> Bool {
            ((try? fileSystem.list(root)) ?? []).contains { $0.hasPrefix("chk-") && fileSystem.exists("\(root)/\($0)/_metadata") }
        }
        while process.isRunning && !checkpointed() && ContinuousClock.now < limit { usleep(2_000) }
        if process.isRunning { Thread.sleep(forTimeInterval: Double(after.components.seconds) + Double(after.components.attoseconds) / 1e18) }
        guard process.isRunning else {
            process.waitUntilExit()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            switch process.terminationStatus {
            case 0: return .finished
            case 1: return .exited(message)
            default: return .failed("exit \(process.terminationStatus): \(message)")
            }
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return .killed
    }

    /// The checks against the model, with faults off.
    private static func check(
        _ simulation: SimulationCase, root: String, output: String, fileSystem: any CheckpointFileSystem
    ) -> [String] {
        var problems: [String] = []
        let lines = (try? Self.committed(output)) ?? []
        let expected = simulation.expectedLines
        if lines != expected {
            let have = Set(lines)
            let want = Set(expected)
            let duplicated = lines.count - have.count
            problems.append(
                "committed output: \(lines.count) lines for \(expected.count) expected; \(duplicated) duplicated, "
                    + "missing \(want.subtracting(have).sorted().prefix(5)), extra \(have.subtracting(want).sorted().prefix(5))")
        }
        // Opening the root collects what no checkpoint references (as a restart or `weir gc` does); then every file
        // verifies and none is left unreferenced.
        do throws(CheckpointError) {
            let storage = try CheckpointStorage(root: root, fileSystem: fileSystem)
            storage.close()
            let report = try CheckpointInspector(root: root, fileSystem: fileSystem).verify()
            if !report.isClean { problems.append("verify: \(report.problems.map(\.description).prefix(3))") }
            if !report.orphans.isEmpty { problems.append("unreferenced after collection: \(report.orphans.prefix(5))") }
            if !report.incomplete.isEmpty { problems.append("incomplete folders after collection: \(report.incomplete)") }
        } catch {
            problems.append("the root does not open or verify: \(error.message)")
        }
        return problems
    }

    /// The lines of every committed file under `directory`, sorted.
    public static func committed(_ directory: String) throws -> [String] {
        var lines: [String] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasSuffix(".txt") {
            let text = try String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8)
            lines += text.split(separator: "\n").map(String.init)
        }
        return lines.sorted()
    }

    private static func execution(
        _ simulation: SimulationCase, parallelism: Int, root: String, output: String, directory: String,
        faults: FaultInjectingFileSystem, restore: RestoreSource, tally: Tally, stopAfterRecords: Int64?
    ) -> JobExecution {
        // The attempt that completed the latest checkpoint (-1: none yet).
        let checkpointedAttempt = Atomic<Int>(-1)
        let failures = simulation.taskFailures
        // The sources are paced (`SimulationCase.generator`) and every record slowed a little, so that checkpoints,
        // failures and the stop fall inside the input and channels hold data for unaligned barriers. Attempt
        // `i` fails once it has completed a checkpoint of its own, so every restart restores a newer one.
        let failAt: @Sendable (Int, Int64) -> Bool = { attempt, record in
            if record % 8 == 0 { usleep(200) }
            return attempt < failures.count && record >= Int64(failures[attempt])
                && checkpointedAttempt.load(ordering: .relaxed) == attempt
        }
        let job = StreamJob.keyedCount(
            generator: simulation.generator, parallelism: parallelism, sourceParallelism: simulation.sourceParallelism,
            valueSeparation: simulation.kvSeparation ? ValueSeparation(minBlobSize: 16) : nil,
            sink: .files(directory: output), failAt: failAt)
        var configuration = JobConfiguration(
            checkpointing: CheckpointConfiguration(
                directory: root, interval: simulation.interval, timeout: .seconds(20), strategy: simulation.strategy,
                alignment: simulation.alignment, fileSystem: faults),
            workingDirectory: directory + "/work", engine: simulation.engine,
            restartStrategy: .fixedDelay(attempts: 100, delay: .milliseconds(5)), restore: restore)
        configuration.localRecovery = simulation.localRecovery
        let execution = JobExecution(job: job, configuration: configuration)
        let graceful = simulation.gracefulStop
        execution.onCheckpoint = { [unowned execution] (statistics: CheckpointStatistics) in
            if statistics.status == .completed {
                tally.completed.add(1, ordering: .relaxed)
                checkpointedAttempt.store(execution.progress.attempt, ordering: .relaxed)
            } else {
                tally.aborted.add(1, ordering: .relaxed)
            }
            guard let stopAfterRecords, statistics.status == .completed,
                execution.progress.sourceRecords >= Int(stopAfterRecords)
            else { return }
            if graceful { execution.stop() } else { execution.cancel() }
        }
        return execution
    }

    private enum Run: Sendable {
        case finished(JobExecution.Result)
        case failed(RuntimeError)
        case hung
    }

    /// Runs `execution` on a thread of its own; cancels it and reports a hang after `deadline`.
    private static func runBounded(_ execution: JobExecution, deadline: Duration) -> Run {
        let result = Mutex<Run?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let run: Run
            do throws(RuntimeError) { run = .finished(try execution.run()) } catch { run = .failed(error) }
            result.withLock { $0 = run }
            done.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
        let seconds = Double(deadline.components.seconds) + Double(deadline.components.attoseconds) / 1e18
        if done.wait(timeout: .now() + seconds) == .timedOut {
            execution.cancel()
            _ = done.wait(timeout: .now() + 30)
            return .hung
        }
        return result.withLock { $0 } ?? .hung
    }
}
