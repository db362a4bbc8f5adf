import ArgumentParser
import Foundation
import StateTestSupport

/// `weir-bench torture`: seeded simulations of the keyed-count job against the reference model.
struct TortureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "torture",
        abstract: "Seeded simulations: random job configurations, task failures, rescales and storage faults.",
        discussion: """
            Each seed draws a configuration (strategy, alignment and timeout, materialization interval, \
            checkpoint interval, parallelism and a stop with a rescale, engine, KV separation, local recovery), a \
            failure schedule (task exceptions at seeded records, storage faults at a seeded rate under the \
            checkpoint root: EIO, ENOSPC, short writes, lost unsynced data, publishes of unknown outcome, latency \
            spikes; with --object-storage also on the wire: HTTP 500, 503 SlowDown, resets before and after the \
            server acted, truncated bodies), a kill -9 of the first run in a child process (a third of the seeds, \
            local roots; needs weir-crash-child built beside weir-bench) and a record count; runs the job to its \
            end through every restart; and checks the committed \
            output against the reference model (every key's counts 1..c exactly once), the root verifies clean, \
            and no file is left unreferenced. A failing seed prints the one command that replays it; the exit \
            status is 1 when any diverged.

            Example:
              swift build -c release --product weir-crash-child
              swift run -c release weir-bench torture --seeds 1000 --from 1
              swift run -c release weir-bench torture --seeds 200 --from 1 --fault-rate 0.01
              swift run -c release weir-bench torture --seeds 100 --from 1 --object-storage   # SeaweedFS (make seaweedfs)
            """
    )

    @Option(help: "Seeds to run.")
    var seeds: Int = 100

    @Option(help: "The first seed.")
    var from: UInt64 = 1

    @Option(help: "Storage fault rate for every seed (default: drawn per seed from 0, 0.002 and 0.01).")
    var faultRate: Double?

    @Option(help: "Scratch directory (default: under $TMPDIR).")
    var directory: String?

    @Flag(help: "Stop at the first diverging seed.")
    var failFast = false

    @Flag(help: "Put every root on object storage: a SeaweedFS server of its own (make seaweedfs), each seed's requests through a fault-injecting proxy.")
    var objectStorage = false

    @Flag(help: "Run the seeds that kill -9 their first run without the kill (when weir-crash-child is not built).")
    var noKills = false

    func validate() throws {
        guard self.seeds >= 1 else { throw ValidationError("--seeds must be at least 1") }
        if let rate = self.faultRate, !(0...0.5).contains(rate) { throw ValidationError("--fault-rate must be in 0...0.5") }
    }

    func run() throws {
        let base = self.directory ?? benchScratchDirectory("torture")
        let child = self.noKills ? nil : Simulation.childBesideExecutable
        if !self.noKills && child == nil {
            throw ValidationError(
                "weir-crash-child is not beside weir-bench: build it (swift build -c release --product weir-crash-child), or pass --no-kills")
        }
        let server = self.objectStorage ? try SeaweedServer(bucket: "weir-torture") : nil
        defer { server?.stop() }
        let objectStorage = server.map { Simulation.ObjectStorage(configuration: $0.configuration, bucket: "weir-torture") }
        let started = ContinuousClock.now
        var failed: [UInt64] = []
        var checkpoints = 0
        var faults = 0
        var kills = 0
        for seed in self.from..<(self.from + UInt64(self.seeds)) {
            let simulation = SimulationCase(seed: seed, faultRate: self.faultRate)
            let directory = "\(base)/seed-\(seed)"
            try? FileManager.default.removeItem(atPath: directory)
            let outcome = Simulation.run(simulation, directory: directory, child: child, objectStorage: objectStorage)
            print(outcome)
            checkpoints += outcome.completed
            faults += outcome.faults
            kills += outcome.kills
            if outcome.passed {
                try? FileManager.default.removeItem(atPath: directory)
            } else {
                failed.append(seed)
                print("  kept \(directory)")
                if self.failFast { break }
            }
        }
        if failed.isEmpty { try? FileManager.default.removeItem(atPath: base) }
        let elapsed = ContinuousClock.now - started
        print(String(format: "%d seeds from %d in %.0f s: %d diverged%@; %d checkpoints completed, %d storage faults injected, %d kill -9",
            self.seeds, self.from, Double(elapsed.components.seconds), failed.count,
            failed.isEmpty ? "" : " (\(failed.map(String.init).joined(separator: ", ")))", checkpoints, faults, kills))
        if !failed.isEmpty { throw ExitCode(1) }
    }
}
