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
            spikes) and a record count; runs the job to its end through every restart; and checks the committed \
            output against the reference model (every key's counts 1..c exactly once), the root verifies clean, \
            and no file is left unreferenced. A failing seed prints the one command that replays it; the exit \
            status is 1 when any diverged.

            Example:
              swift run -c release weir-bench torture --seeds 1000 --from 1
              swift run -c release weir-bench torture --seeds 200 --from 1 --fault-rate 0.01
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

    func validate() throws {
        guard self.seeds >= 1 else { throw ValidationError("--seeds must be at least 1") }
        if let rate = self.faultRate, !(0...0.5).contains(rate) { throw ValidationError("--fault-rate must be in 0...0.5") }
    }

    func run() throws {
        let base = self.directory ?? benchScratchDirectory("torture")
        let started = ContinuousClock.now
        var failed: [UInt64] = []
        var checkpoints = 0
        var faults = 0
        for seed in self.from..<(self.from + UInt64(self.seeds)) {
            let simulation = SimulationCase(seed: seed, faultRate: self.faultRate)
            let directory = "\(base)/seed-\(seed)"
            try? FileManager.default.removeItem(atPath: directory)
            let outcome = Simulation.run(simulation, directory: directory)
            print(outcome)
            checkpoints += outcome.completed
            faults += outcome.faults
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
        print(String(format: "%d seeds from %d in %.0f s: %d diverged%@; %d checkpoints completed, %d storage faults injected",
            self.seeds, self.from, Double(elapsed.components.seconds), failed.count,
            failed.isEmpty ? "" : " (\(failed.map(String.init).joined(separator: ", ")))", checkpoints, faults))
        if !failed.isEmpty { throw ExitCode(1) }
    }
}
