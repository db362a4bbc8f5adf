import ArgumentParser
import Checkpointing
import Foundation
import RocksKit
import Runtime
import Synchronization

/// `weir-bench soak`: the standard workload for a long time with a task failure every few minutes, sampling the
/// files and bytes under the checkpoint root and the process's memory, to show both stay flat.
struct SoakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "The standard workload for --duration seconds with a task failure every --failure-every seconds.",
        discussion: """
            Samples every --sample-every seconds: records, checkpoints, restarts, files and bytes under the \
            checkpoint root, resident memory. At the end it compares each figure's maximum after the first ten \
            minutes with its maximum in them (target: within 1.5x, once the first materialization is done). The \
            root must be local. Exit status 1 when a figure grew beyond the target.

            Example:
              swift run -c release weir-bench soak --duration 3600 --failure-every 180
            """
    )

    @OptionGroup var options: RecoveryOptions

    @Option(help: "Seconds between task failures (0: none).")
    var failureEvery: Double = 180

    @Option(help: "Seconds between samples.")
    var sampleEvery: Double = 60

    @Option(help: "Seconds at the start that set the baseline the rest is compared with.")
    var baseline: Double = 600

    func validate() throws {
        guard self.options.checkpointDirectory.map({ !$0.hasPrefix("s3://") }) ?? true else {
            throw ValidationError("soak measures a local root: leave out --checkpoint-directory or give a directory")
        }
        guard self.sampleEvery > 0, self.options.duration > self.baseline else {
            throw ValidationError("--duration must exceed --baseline, and --sample-every be positive")
        }
    }

    /// One sample.
    struct Sample {
        var seconds: Double
        var records: Int
        var checkpoints: Int
        var restarts: Int
        var files: Int
        var bytes: Int
        var rssKiB: Int
        /// Bytes the allocator has handed out and not had back (`mallinfo2`): RSS minus this is what the
        /// allocator keeps (fragmentation, free lists), and what RocksDB maps itself.
        var heapBytes: Int
        /// Bytes under the working directory (the RocksDB databases and local recovery copies).
        var workBytes: Int
        /// What the open RocksDB databases hold: memtables, table readers, block caches.
        var rocks: RocksMemoryUsage
    }

    func run() throws {
        let directory = benchScratchDirectory("soak")
        try? FileManager.default.removeItem(atPath: directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let root = self.options.checkpointDirectory.map { "\($0)/soak-\(getpid())" } ?? directory + "/checkpoints"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let work = directory + "/work"
        let options = self.options
        let start = RecoveryTrace.now
        let stopAt = start + Int64(options.duration * 1000)
        let every = Int64(self.failureEvery * 1000)
        let nextFailure = Atomic<Int64>(every > 0 ? start + every : Int64.max)
        let execution = RecoveryJob.execution(
            options, root: root, work: work, restore: false, attempts: 10_000,
            injector: { vertex, subtask, _, _ in
                guard vertex == "count" && subtask == 0 else { return false }
                let due = nextFailure.load(ordering: .relaxed)
                let now = RecoveryTrace.now
                return now >= due && nextFailure.compareExchange(expected: due, desired: now + every, ordering: .relaxed).exchanged
            })
        let completed = Atomic<Int>(0)
        execution.onCheckpoint = { (statistics: CheckpointStatistics) in
            if statistics.status == .completed { completed.add(1, ordering: .relaxed) }
        }
        let samples = Mutex<[Sample]>([])
        let done = DispatchSemaphore(value: 0)
        let sampleEvery = self.sampleEvery
        print("   t (s)      records  checkpoints  restarts  root files   root MiB   RSS MiB  heap MiB  work MiB"
            + "  DBs  memtable  readers  cache MiB")
        let sampler = Thread {
            var due = Double(0)
            var restarts = 0
            while done.wait(timeout: .now() + .milliseconds(200)) == .timedOut {
                let seconds = Double(RecoveryTrace.now - start) / 1000
                if RecoveryTrace.now >= stopAt { execution.cancel() }
                guard seconds >= due else { continue }
                due += sampleEvery
                restarts = max(restarts, execution.progress.attempt)
                let (files, bytes) = Self.usage(root)
                let sample = Sample(
                    seconds: seconds, records: execution.progress.sourceRecords, checkpoints: completed.load(ordering: .relaxed),
                    restarts: restarts, files: files, bytes: bytes, rssKiB: Self.residentKiB,
                    heapBytes: ProcessHeap.inUseBytes, workBytes: Self.usage(work).bytes,
                    rocks: RocksMemoryUsage.ofOpenDatabases)
                samples.withLock { $0.append(sample) }
                let mib = { (bytes: UInt64) in Double(bytes) / 1_048_576 }
                print(String(format: "%8.0f %12d %12d %9d %11d %10.1f %9.1f %9.1f %9.1f %4d %9.1f %8.1f %10.1f",
                    sample.seconds, sample.records, sample.checkpoints, sample.restarts, sample.files,
                    Double(sample.bytes) / 1_048_576, Double(sample.rssKiB) / 1024, Double(sample.heapBytes) / 1_048_576,
                    Double(sample.workBytes) / 1_048_576, sample.rocks.databases, mib(sample.rocks.memtableBytes),
                    mib(sample.rocks.tableReaderBytes), mib(sample.rocks.blockCacheBytes)))
                fflush(nil)  // every stream: a sample shows as it is taken, also when stdout is a file
            }
        }
        sampler.start()
        do throws(RuntimeError) {
            let result = try execution.run()
            done.signal()
            print("ended: \(result.failures.count) task failures restarted from, peak RSS \(RecoveryTrace.peakRSSKiB / 1024) MiB")
        } catch {
            done.signal()
            throw BenchFailure(description: "the job failed: \(error.message)")
        }
        let taken = samples.withLock { $0 }
        // The first materialization is due one interval in (the changelog strategy), and done within seconds.
        let firstMaterialization = options.strategy == .changelog ? options.materializationInterval * 2 : 0
        let flat = Self.report(taken, baseline: self.baseline, after: firstMaterialization)
        if !flat { throw ExitCode(1) }
    }

    /// Prints each figure's maximum in the baseline and after it; true when every later maximum is within 1.5x.
    static func report(_ samples: [Sample], baseline: Double, after materialization: Double) -> Bool {
        let early = samples.filter { $0.seconds >= materialization && $0.seconds <= baseline }
        let late = samples.filter { $0.seconds > baseline }
        guard !early.isEmpty, !late.isEmpty else {
            print("too few samples to compare (\(early.count) in the baseline, \(late.count) after it)")
            return false
        }
        var flat = true
        print(String(format: "baseline %.0f–%.0f s (from two materialization intervals in)", materialization, baseline))
        for (name, value) in [
            ("root files", { (s: Sample) in Double(s.files) }), ("root MiB", { Double($0.bytes) / 1_048_576 }),
            ("RSS MiB", { Double($0.rssKiB) / 1024 }),
        ] as [(String, (Sample) -> Double)] {
            let before = early.map(value).max()!
            let later = late.map(value).max()!
            let ratio = before > 0 ? later / before : 0
            let met = ratio <= 1.5
            flat = flat && met
            print(String(format: "%-11@ baseline max %9.1f, later max %9.1f: %.2fx (target ≤ 1.5x) %@", name, before, later, ratio,
                met ? "met" : "MISSED"))
        }
        return flat
    }

    /// Files and bytes under `root`.
    static func usage(_ root: String) -> (files: Int, bytes: Int) {
        guard let walker = FileManager.default.enumerator(atPath: root) else { return (0, 0) }
        var files = 0
        var bytes = 0
        while let name = walker.nextObject() as? String {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: "\(root)/\(name)"),
                attributes[.type] as? FileAttributeType == .typeRegular
            else { continue }
            files += 1
            bytes += (attributes[.size] as? Int) ?? 0
        }
        return (files, bytes)
    }

    /// The process's resident memory now (`VmRSS`).
    static var residentKiB: Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}
