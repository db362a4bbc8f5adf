import ArgumentParser
import Checkpointing
import Foundation
import KeyedState
import ObjectStore
import StateCore

/// `weir-bench checkpoint`: checkpoint duration, size and restore time per snapshot strategy, for a backend under
/// a steady update load.
struct CheckpointBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Checkpoint duration/size and restore time per strategy (changelog, incremental, full).",
        discussion: """
            For each state size and strategy: loads `keys` values of `value-bytes` bytes into a RocksDB backend \
            (changelog: then materializes), then updates random keys at `rate` per second for `duration` seconds \
            with a checkpoint every `interval`, and finally restores the latest checkpoint with local recovery. \
            An unmeasured checkpoint after the load, the deletion of the load's changelog and of local copies of \
            materializations taken during the load, and the load's flushes and compactions come before the \
            measured phase. Prints checkpoint \
            duration p50/p99/max, bytes uploaded per checkpoint, checkpoint-root size, materialization figures, \
            and restore time split into fetch/open/replay.

            Example:
              swift run -c release weir-bench checkpoint --keys 100000 1000000 --json
            """
    )

    @Option(parsing: .upToNextOption, help: "State sizes (distinct keys).")
    var keys: [Int] = [100_000, 1_000_000, 10_000_000]

    @Option(parsing: .upToNextOption, help: "Strategies: changelog, incremental, full.")
    var strategies: [SnapshotStrategy.Kind] = [.changelog, .incremental, .full]

    @Option(help: "Updates per second during the measured phase.")
    var rate: Int = 50_000

    @Option(help: "Value size in bytes.")
    var valueBytes: Int = 100

    @Option(help: """
        Seconds of the measured phase. Default: two materialization intervals minus one second, so one \
        materialization runs during the phase and the last checkpoint carries almost a full interval of changelog \
        (the worst case for restore).
        """)
    var duration: Double?

    @Option(help: "Seconds between checkpoints.")
    var interval: Double = 1

    @Option(help: "Seconds between materializations (changelog strategy).")
    var materializationInterval: Double = 30

    @Option(help: "Scratch directory (removed afterwards). Default: $TMPDIR/weir-bench-checkpoint-<pid>.")
    var directory: String?

    @Option(help: """
        The checkpoint roots' parent: s3://bucket/prefix (configured by AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, \
        AWS_SECRET_ACCESS_KEY; each run writes under a new prefix below it and removes it afterwards, and the \
        restore starts with an empty object cache and no local copies, as on a fresh machine). Default: the \
        scratch directory.
        """)
    var checkpointDirectory: String?

    @Flag(help: "Print one JSON object per case instead of a table.")
    var json = false

    @Flag(help: "Print every checkpoint's duration (marking those that adopted a finished materialization).")
    var trace = false

    @Flag(help: "Keep the scratch directory (needs --directory), for --restore-only runs.")
    var keep = false

    @Flag(help: """
        Only restore the latest checkpoint of each case from a directory a --keep run left (needs --directory); \
        prints the restore figures (repeatable, for working on restore).
        """)
    var restoreOnly = false

    func validate() throws {
        guard self.keys.allSatisfy({ $0 >= 16 }) else { throw ValidationError("--keys must be at least 16") }
        guard self.rate > 0, (self.duration ?? 1) > 0, self.interval > 0, self.materializationInterval > 1 else {
            throw ValidationError("--rate, --duration and --interval must be positive")
        }
        guard !self.strategies.contains(.savepoint) else { throw ValidationError("savepoint is not a checkpoint strategy") }
        guard self.directory != nil || !(self.keep || self.restoreOnly) else {
            throw ValidationError("--keep and --restore-only need --directory")
        }
        guard self.checkpointDirectory == nil || !(self.keep || self.restoreOnly) else {
            throw ValidationError("--keep and --restore-only work on local roots only")
        }
    }

    func run() throws {
        let base = self.directory ?? benchScratchDirectory("checkpoint")
        if self.restoreOnly { return try self.restoreKept(base: base) }
        try? FileManager.default.removeItem(atPath: base)
        defer { if !self.keep { try? FileManager.default.removeItem(atPath: base) } }
        if !self.json {
            print("weir-bench checkpoint: \(self.rate) updates/s of \(self.valueBytes) B for \(self.phaseSeconds) s, "
                  + "checkpoint every \(self.interval) s, materialization every \(self.materializationInterval) s")
            print(CheckpointBenchmarkResult.tableHeader)
        }
        var results: [CheckpointBenchmarkResult] = []
        let remote = benchRunRoot(under: self.checkpointDirectory)
        for keys in self.keys {
            for kind in self.strategies {
                let directory = "\(base)/\(keys)-\(kind.rawValue)"
                let root = remote.map { "\($0)/\(keys)-\(kind.rawValue)" } ?? directory + "/root"
                defer { removeObjectStoreRoot(root) }
                let result = try self.measure(keys: keys, kind: kind, directory: directory, root: root)
                if !self.keep { try? FileManager.default.removeItem(atPath: directory) }
                results.append(result)
                print(self.json ? result.jsonLine : result.tableRow)
                fflush(nil)
            }
        }
        if !self.json { print(CheckpointBenchmarkResult.targets(results, remote: self.checkpointDirectory != nil)) }
    }

    /// Restores the latest checkpoint of every case a `--keep` run left under `base`, and prints the figures.
    private func restoreKept(base: String) throws {
        for keys in self.keys {
            for kind in self.strategies {
                let directory = "\(base)/\(keys)-\(kind.rawValue)"
                let storage = try CheckpointStorage(root: directory + "/root")
                defer { storage.close() }
                let (total, report) = try self.restoreLatest(storage: storage, work: directory + "/work", kind: kind)
                print(String(
                    format: "%@ %d keys: restore %.0f ms (fetch %.0f, open %.0f, replay %.0f; %d records replayed, %d written)",
                    kind.rawValue, keys, total, report?.fetch.milliseconds ?? 0, report?.open.milliseconds ?? 0,
                    report?.replay.milliseconds ?? 0, report?.replayedRecords ?? 0, report?.writtenRecords ?? 0))
            }
        }
    }

    /// Restores the latest checkpoint into `work` (local recovery when a run left its copies there) and closes it.
    /// - Returns: The milliseconds `open` took and its report.
    private func restoreLatest(storage: CheckpointStorage, work: String, kind: SnapshotStrategy.Kind) throws
        -> (Double, RestoreReport?)
    {
        let start = ContinuousClock.now
        let restored = try CheckpointedBackend<Int64>.open(
            backendID: "bench/0", storage: storage, workingDirectory: work, keySerializer: .int64,
            strategy: self.strategy(kind), restore: .latest)
        let milliseconds = (ContinuousClock.now - start).milliseconds
        let report = restored.restoreReport
        try restored.close()
        return (milliseconds, report)
    }

    private var phaseSeconds: Double { self.duration ?? (2 * self.materializationInterval - 1) }

    private func strategy(_ kind: SnapshotStrategy.Kind) -> SnapshotStrategy {
        .named(kind, materializationInterval: .milliseconds(Int(self.materializationInterval * 1_000)))
    }

    private func measure(keys: Int, kind: SnapshotStrategy.Kind, directory: String, root: String) throws
        -> CheckpointBenchmarkResult
    {
        let work = directory + "/work"
        let storage = try CheckpointStorage(root: root)
        defer { storage.close() }
        let backend = try CheckpointedBackend<Int64>.open(
            backendID: "bench/0", storage: storage, workingDirectory: work, keySerializer: .int64,
            strategy: self.strategy(kind))
        let state = try backend.state.valueState(ValueStateDescriptor("value", serializer: .bytes))
        var generator = SeededGenerator(seed: 7)
        var payload = (0..<self.valueBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let loadStart = ContinuousClock.now
        for key in 0..<Int64(keys) {
            try backend.state.setCurrentKey(key)
            Self.randomize(&payload, using: &generator)
            try state.update(payload)
        }
        if kind == .changelog { try backend.materializeNow() }
        // The measured phase is the steady state. An unmeasured first checkpoint lets the load's changelog (every
        // key once: 1.3 GB in ~1,300 segments at 10 M keys) be deleted, and the load's flushes and compactions
        // finish, instead of both landing on the first measured checkpoints.
        var checkpointID: Int64 = 1
        let first = try backend.checkpoint(checkpointID)
        storage.waitForCleanup()
        backend.waitForMaterializer()  // it removes the local copy of a materialization taken during the load
        backend.state.rocksDatabase?.waitForBackgroundWork()
        sync()  // and the kernel has written back what they left dirty (the journal holds the deletions)
        let loadSeconds = (ContinuousClock.now - loadStart).seconds

        var durations: [Double] = []
        var uploaded: [Int] = []
        var previous = Self.fileSizes(first)
        var materializationMs: [Double] = []
        var lastMaterializationID = backend.lastMaterialization?.id
        let perTick = max(1, self.rate / 1_000)
        let start = ContinuousClock.now
        var nextCheckpoint = start + .milliseconds(Int(self.interval * 1_000))
        var tick = start
        var updates = 0
        while ContinuousClock.now - start < .milliseconds(Int(self.phaseSeconds * 1_000)) {
            for _ in 0..<perTick {
                let key = Int64.random(in: 0..<Int64(keys), using: &generator)
                try backend.state.setCurrentKey(key)
                Self.randomize(&payload, using: &generator)
                try state.update(payload)
                updates += 1
            }
            tick += .milliseconds(1)
            let now = ContinuousClock.now
            if now >= nextCheckpoint {
                checkpointID += 1
                let began = ContinuousClock.now
                let handle = try backend.checkpoint(checkpointID)
                durations.append((ContinuousClock.now - began).milliseconds)
                let files = Self.fileSizes(handle)
                uploaded.append(files.filter { previous[$0.key] == nil }.reduce(0) { $0 + $1.value })
                previous = files
                nextCheckpoint += .milliseconds(Int(self.interval * 1_000))
                var adopted = ""
                if let stats = backend.lastMaterialization, stats.id != lastMaterializationID {
                    materializationMs.append(stats.total.milliseconds)
                    lastMaterializationID = stats.id
                    adopted = String(format: " (adopted materialization %d: %.0f ms, %d B uploaded)", stats.id,
                                     stats.total.milliseconds, stats.uploadedBytes)
                }
                if self.trace {
                    print(String(format: "  checkpoint %d at %.1f s: %.1f ms%@", checkpointID, (began - start).seconds,
                                 durations.last ?? 0, adopted))
                }
            }
            if tick > ContinuousClock.now { Thread.sleep(forTimeInterval: (tick - ContinuousClock.now).seconds) }
        }
        let achievedRate = Double(updates) / (ContinuousClock.now - start).seconds
        try backend.close()
        let rootBytes = directoryContents(root).bytes

        let (restoreMs, report): (Double, RestoreReport?)
        if S3Location.isObjectStoreURL(root) {
            // A fresh machine: no local copies, an empty object cache.
            try? FileManager.default.removeItem(atPath: work)
            let fresh = try CheckpointStorage(root: root, fileSystem: try freshObjectStore(cache: directory + "/fresh-cache"))
            defer { fresh.close() }
            (restoreMs, report) = try self.restoreLatest(storage: fresh, work: work, kind: kind)
        } else {
            (restoreMs, report) = try self.restoreLatest(storage: storage, work: work, kind: kind)
        }

        let sorted = durations.sorted()
        let uploadedSorted = uploaded.sorted()
        return CheckpointBenchmarkResult(
            strategy: kind.rawValue, keys: keys, checkpoints: durations.count, updatesPerSec: achievedRate,
            loadSeconds: loadSeconds,
            checkpointP50Ms: (percentile(sorted, 0.5) ?? 0), checkpointP99Ms: (percentile(sorted, 0.99) ?? 0),
            checkpointMaxMs: sorted.last ?? 0,
            uploadedBytesP50: uploadedSorted.isEmpty ? 0 : uploadedSorted[uploadedSorted.count / 2],
            uploadedBytesMax: uploadedSorted.last ?? 0, rootBytes: rootBytes,
            materializations: materializationMs.count, materializationMs: materializationMs.max() ?? 0,
            restoreMs: restoreMs, restoreFetchMs: report?.fetch.milliseconds ?? 0,
            restoreOpenMs: report?.open.milliseconds ?? 0, restoreReplayMs: report?.replay.milliseconds ?? 0,
            restoreReplayedRecords: report?.replayedRecords ?? 0, restoreWrittenRecords: report?.writtenRecords ?? 0, restoreLocalBytes: report?.localBytes ?? 0,
            restoreFetchedBytes: report?.fetchedBytes ?? 0)
    }

    /// Fresh incompressible bytes (as real payloads are; a repeated payload would let LZ4 hide the SST sizes).
    static func randomize(_ payload: inout [UInt8], using generator: inout SeededGenerator) {
        payload.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let word = generator.next()
                withUnsafeBytes(of: word) { bytes in
                    let count = min(8, raw.count - offset)
                    raw.baseAddress!.advanced(by: offset).copyMemory(from: bytes.baseAddress!, byteCount: count)
                }
                offset += 8
            }
        }
    }

    /// Every file the handle references with its size (a changelog segment counts the sections referenced).
    static func fileSizes(_ handle: BackendStateHandle) -> [String: Int] {
        var sizes: [String: Int] = [:]
        for file in handle.materialization?.files ?? [] { sizes[file.path] = file.size }
        for section in handle.changelog { sizes["\(section.file.path)@\(section.offset)"] = section.length }
        return sizes
    }


}

extension SnapshotStrategy.Kind: ExpressibleByArgument {}

