import ArgumentParser
import Checkpointing
import Foundation
import Inspection
import KeyedState
import ObjectStore
import StateCore

/// `weir-bench inspect`: how fast the inspection library dumps and verifies a checkpoint, against reading the
/// same bytes once.
struct InspectBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Dump and verify throughput of a checkpoint (the `weir dump` / `weir verify` engine).",
        discussion: """
            Writes a checkpoint of `keys` values of `value-bytes` bytes (changelog strategy, materialized), then \\
            times: a dump of the state rendered as JSON lines into memory (entries/s), verify of the root \\
            (MB/s), and a plain read of every file verify reads (MB/s), in the same run.

            Example:
              swift run -c release weir-bench inspect --keys 1000000
            """
    )

    @Option(help: "Distinct keys.")
    var keys: Int = 1_000_000

    @Option(help: "Value size in bytes.")
    var valueBytes: Int = 100

    @Option(help: "Rounds of verify and plain read (alternating which goes first); medians are printed.")
    var rounds: Int = 3

    @Option(help: "Scratch directory (removed afterwards). Default: $TMPDIR/weir-bench-inspect-<pid>.")
    var directory: String?

    @Option(help: """
        The checkpoint root's parent: s3://bucket/prefix (configured by AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, \
        AWS_SECRET_ACCESS_KEY; the run writes under a new prefix and removes it afterwards). On object storage \
        "cold" is an empty object cache, and the plain read is a download of every file (in parallel as a \
        restore downloads, and one GET after another).
        """)
    var checkpointDirectory: String?

    func validate() throws {
        guard self.rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
    }

    func run() throws {
        let base = self.directory ?? benchScratchDirectory("inspect")
        try? FileManager.default.removeItem(atPath: base)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let root = benchRunRoot(under: self.checkpointDirectory) ?? base + "/root"
        defer { removeObjectStoreRoot(root) }
        do {
            let storage = try CheckpointStorage(root: root)
            defer { storage.close() }
            let backend = try CheckpointedBackend<Int64>.open(
                backendID: "bench/0", storage: storage, workingDirectory: base + "/work", keySerializer: .int64)
            let state = try backend.state.valueState(ValueStateDescriptor("value", serializer: .bytes))
            var generator = SeededGenerator(seed: 3)
            var payload = [UInt8](repeating: 0, count: self.valueBytes)
            for key in 0..<Int64(self.keys) {
                try backend.state.setCurrentKey(key)
                CheckpointBenchmark.randomize(&payload, using: &generator)
                try state.update(payload)
            }
            try backend.materializeNow()
            try backend.checkpoint(1)
            try backend.close()
        }
        let inspector = try CheckpointInspector(root: root)
        let metadata = try inspector.metadata(1)
        if S3Location.isObjectStoreURL(root) { return try self.objectStorage(root: root, base: base, metadata: metadata) }

        var entries = 0
        var rendered = 0
        let dumpStart = ContinuousClock.now
        try inspector.dump(metadata, DumpRequest(state: "value", scratchDirectory: base + "/dump")) { entry in
            // The line `weir dump --json` prints.
            rendered += entry.jsonLine.utf8.count + 1
            entries += 1
            return true
        }
        let dumpSeconds = (ContinuousClock.now - dumpStart).seconds

        let fileSystem = LocalFileSystem()
        /// Reads every file the checkpoint references once, in 4 MiB pieces; returns bytes and seconds.
        func plainRead() throws -> (Int, Double) {
            let start = ContinuousClock.now
            var bytes = 0
            for path in metadata.referencedPaths {
                let absolute = root + "/" + path
                let size = fileSystem.size(absolute) ?? 0
                var offset = 0
                while offset < size {
                    let count = min(4 << 20, size - offset)
                    bytes += try fileSystem.read(absolute, offset: offset, count: count).count
                    offset += count
                }
            }
            return (bytes, (ContinuousClock.now - start).seconds)
        }
        func timedVerify() throws -> (VerifyReport, Double) {
            let start = ContinuousClock.now
            let report = try inspector.verify()
            return (report, (ContinuousClock.now - start).seconds)
        }
        // Rounds alternate which goes first, so neither profits from the other's read-ahead or a quieter disk.
        // Cold: the page cache dropped before each (when this process may: root on Linux).
        var verifyWarm: [Double] = [], readWarm: [Double] = [], verifyCold: [Double] = [], readCold: [Double] = []
        var report: VerifyReport?
        var readBytes = 0
        var cold = true
        for round in 0..<self.rounds {
            for verifyFirst in round % 2 == 0 ? [true, false] : [false, true] {
                if verifyFirst {
                    cold = Self.dropPageCache() && cold
                    if cold { verifyCold.append(try timedVerify().1) }
                    let warm = try timedVerify()
                    report = warm.0
                    verifyWarm.append(warm.1)
                } else {
                    cold = Self.dropPageCache() && cold
                    if cold { readCold.append(try plainRead().1) }
                    let warm = try plainRead()
                    readBytes = warm.0
                    readWarm.append(warm.1)
                }
            }
        }
        let verifySeconds = median(verifyWarm), readSeconds = median(readWarm)
        func list(_ seconds: [Double]) -> String { seconds.map { String(format: "%.2f", $0) }.joined(separator: " / ") }

        print("weir-bench inspect: \(self.keys) keys of \(self.valueBytes) B, one materialized checkpoint")
        print(String(format: "dump:   %ld entries (%ld B of JSON) in %.2f s = %.0f entries/s", entries, rendered,
                     dumpSeconds, Double(entries) / dumpSeconds))
        print(String(format: "verify: %d files, %.1f MB in %.2f s = %.0f MB/s (%@), median of %@", report?.files ?? 0,
                     Double(report?.bytesRead ?? 0) / 1e6, verifySeconds, Double(report?.bytesRead ?? 0) / 1e6 / verifySeconds,
                     report?.isClean == true ? "clean" : "PROBLEMS", list(verifyWarm)))
        print(String(format: "read:   %.1f MB in %.2f s = %.0f MB/s (plain read of the same files), median of %@",
                     Double(readBytes) / 1e6, readSeconds, Double(readBytes) / 1e6 / readSeconds, list(readWarm)))
        if cold {
            print(String(format: "cold:   verify %.2f s (%@), plain read %.2f s (%@), page cache dropped before each",
                         median(verifyCold), list(verifyCold), median(readCold), list(readCold)))
        } else {
            print("cold:   not measured (dropping the page cache needs root)")
        }
    }

    private func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// Verify of an object-storage root from an empty cache against downloading the same files, per round:
    /// in parallel through a fresh cache (as a restore downloads) and with one GET after another into memory.
    private func objectStorage(root: String, base: String, metadata: CheckpointMetadata) throws {
        let configuration = try S3Configuration.fromEnvironment()
        let location = try S3Location(url: root)
        var verifyCold: [Double] = [], parallel: [Double] = [], sequential: [Double] = []
        var report: VerifyReport?
        var bytes = 0
        for round in 0..<self.rounds {
            func fresh(_ name: String) throws -> ObjectStoreFileSystem {
                try freshObjectStore(cache: "\(base)/cache-\(name)-\(round)")
            }
            let paths = metadata.referencedPaths.map { root + "/" + $0 }
            for step in round % 2 == 0 ? [0, 1, 2] : [2, 1, 0] {
                let start = ContinuousClock.now
                switch step {
                case 0:
                    report = try CheckpointInspector(root: root, fileSystem: try fresh("verify")).verify()
                    verifyCold.append((ContinuousClock.now - start).seconds)
                case 1:
                    try fresh("download").prefetch(paths)
                    parallel.append((ContinuousClock.now - start).seconds)
                default:
                    bytes = 0
                    for path in metadata.referencedPaths {
                        bytes += try S3Client(configuration).get(bucket: location.bucket, key: location.prefix + "/" + path).count
                    }
                    sequential.append((ContinuousClock.now - start).seconds)
                }
            }
            try? FileManager.default.removeItem(atPath: base + "/cache-verify-\(round)")
            try? FileManager.default.removeItem(atPath: base + "/cache-download-\(round)")
        }
        func list(_ seconds: [Double]) -> String { seconds.map { String(format: "%.2f", $0) }.joined(separator: " / ") }
        let megabytes = Double(bytes) / 1e6
        print("weir-bench inspect: \(self.keys) keys of \(self.valueBytes) B, one materialized checkpoint on \(root)")
        print(String(format: "verify (empty cache): %d files, %.1f MB in %.2f s = %.0f MB/s (%@), median of %@",
                     report?.files ?? 0, Double(report?.bytesRead ?? 0) / 1e6, median(verifyCold),
                     Double(report?.bytesRead ?? 0) / 1e6 / median(verifyCold), report?.isClean == true ? "clean" : "PROBLEMS",
                     list(verifyCold)))
        print(String(format: "download, parallel (restore's prefetch): %.1f MB in %.2f s = %.0f MB/s, median of %@",
                     megabytes, median(parallel), megabytes / median(parallel), list(parallel)))
        print(String(format: "download, one GET after another: %.1f MB in %.2f s = %.0f MB/s, median of %@",
                     megabytes, median(sequential), megabytes / median(sequential), list(sequential)))
        print(String(format: "verify / parallel download = %.2f, verify / sequential download = %.2f",
                     median(verifyCold) / median(parallel), median(verifyCold) / median(sequential)))
    }

    /// Syncs and drops the page cache; false when not permitted.
    static func dropPageCache() -> Bool {
        sync()
        guard let file = FileHandle(forWritingAtPath: "/proc/sys/vm/drop_caches") else { return false }
        defer { try? file.close() }
        do { try file.write(contentsOf: Data("3".utf8)) } catch { return false }
        return true
    }
}
