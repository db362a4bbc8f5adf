import ArgumentParser
import Foundation
import KeyedState
import RocksKit
import StateCore

/// `weir-bench state`: the same keyed-state operations through Weir's API and through the raw RocksDB C API,
/// with identical RocksDB options, in one process and one run.
struct StateBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "Keyed state throughput: Weir vs the raw RocksDB C API, with and without KV separation.",
        discussion: """
            For each value size and separation mode, opens a Weir RocksDB backend and a raw RocksDB database with \
            identical options, then runs each phase on both, alternating: value fill/update/get, list append/get, \
            map put/get/iterate. Prints ops/s for both, their ratio, and RocksDB's measured write amplification. \
            The ops/s of a write phase are sustained: each slice's time includes the flush and the compactions it \
            left behind; "calls/s" is the rate of the calls alone.

            Example:
              swift run -c release weir-bench state --keys 1000000 --json
            """
    )

    @Option(help: "Distinct keys.")
    var keys: Int = 1_000_000

    @Option(help: "Operations per phase (default: --keys).")
    var operations: Int?

    @Option(parsing: .upToNextOption, help: "Value sizes in bytes.")
    var valueSizes: [Int] = [100, 4_096]

    @Option(parsing: .upToNextOption, help: "Separation modes: inline, blob.")
    var separation: [SeparationMode] = [.inline, .blob]

    @Option(parsing: .upToNextOption, help: "State kinds whose phases run: value, list, map.")
    var phases: [StateFamily] = [.value, .list, .map]

    @Option(help: "Values of at least this many bytes go to blob files when separation is on.")
    var minBlobSize: Int = 1_024

    @Option(help: "Blob garbage collection age cutoff with separation (0: no blob GC).")
    var blobGcAgeCutoff: Double = ValueSeparation().garbageCollectionAgeCutoff

    @Option(help: "Blob file size in MiB with separation.")
    var blobFileMib: Int = ValueSeparation().blobFileSize >> 20

    @Option(help: "Scratch directory (removed afterwards). Default: $TMPDIR/weir-bench-state-<pid>.")
    var directory: String?

    @Flag(help: "Print one JSON object per case instead of a table.")
    var json = false

    @Option(help: "Random seed for key choice.")
    var seed: UInt64 = 42

    func validate() throws {
        guard self.keys >= 16 else { throw ValidationError("--keys must be at least 16") }
        guard (self.operations ?? self.keys) > 0 else { throw ValidationError("--operations must be positive") }
        guard self.valueSizes.allSatisfy({ $0 > 0 }) else { throw ValidationError("value sizes must be positive") }
    }

    func run() throws {
        let base = self.directory ?? benchScratchDirectory("state")
        try? FileManager.default.removeItem(atPath: base)
        defer { try? FileManager.default.removeItem(atPath: base) }
        var results: [StateBenchmarkResult] = []
        if !self.json {
            print("weir-bench state: \(self.keys) keys, \(self.operations ?? self.keys) ops per phase, "
                  + "RocksDB statistics on, WAL off, release build expected")
            print(StateBenchmarkResult.tableHeader)
        }
        for size in self.valueSizes {
            for mode in self.separation {
                let run = StateBenchmarkRun(
                    keys: self.keys, operations: self.operations ?? self.keys, valueSize: size, mode: mode,
                    separation: ValueSeparation(
                        minBlobSize: self.minBlobSize, blobFileSize: self.blobFileMib << 20,
                        garbageCollection: self.blobGcAgeCutoff > 0,
                        garbageCollectionAgeCutoff: max(self.blobGcAgeCutoff, 0)),
                    directory: "\(base)/\(size)-\(mode.rawValue)", seed: self.seed, families: Set(self.phases))
                try run.execute { result in
                    results.append(result)
                    print(self.json ? result.jsonLine : result.tableRow)
                    fflush(nil)  // flush every stream: progress shows while the run goes on
                }
            }
        }
        if !self.json { print(StateBenchmarkTargets(results: results).report) }
    }
}

/// A state kind of `weir-bench state`, naming the phases that use it.
enum StateFamily: String, ExpressibleByArgument, Sendable, Hashable {
    case value, list, map
}

/// Whether values go to blob files.
enum SeparationMode: String, ExpressibleByArgument, Sendable {
    case inline, blob
}
