import Foundation
import StateTestSupport
import Testing

/// The seeded simulation's short run in the default suite: 20 seeds, each a random job configuration, failure
/// schedule (task exceptions, a stop or cancel with a rescale, storage faults) and record count, run through every
/// restart (a third of the seeds kill -9 their first run in a child process) and checked against the reference
/// model. A failing seed prints the command that replays it; `weir-bench torture --seeds 1000` runs the long matrix.
@Suite(.serialized) struct SimulationTests {
    @Test(arguments: 1...20)
    func aSeededSimulationMatchesTheModel(seed: Int) throws {
        let scratch = TemporaryDirectory(prefix: "weir-simulation")
        defer { scratch.remove() }
        let simulation = SimulationCase(seed: UInt64(seed))
        let child = try #require(Simulation.childBesideExecutable, "weir-crash-child is not built beside the tests")
        let outcome = Simulation.run(simulation, directory: scratch.path, child: child)
        #expect(outcome.passed, "\(outcome)")
        #expect(outcome.completed > 0 || outcome.kills > 0, "seed \(seed): no checkpoint completed")
        if simulation.killAfter != nil { #expect(outcome.kills == 1, "\(outcome)") }
    }

    /// Every seed at a 1 % storage fault rate keeps completing checkpoints between faults (a sample, so the default
    /// suite stays short).
    @Test(arguments: [101, 102, 103, 104, 105])
    func onePercentStorageFaultsLoseAndDuplicateNothing(seed: Int) throws {
        let scratch = TemporaryDirectory(prefix: "weir-simulation-faults")
        defer { scratch.remove() }
        let outcome = Simulation.run(
            SimulationCase(seed: UInt64(seed), faultRate: 0.01), directory: scratch.path, child: Simulation.childBesideExecutable)
        #expect(outcome.passed, "\(outcome)")
        #expect(outcome.faults > 0, "seed \(seed): no storage fault was injected")
        #expect(outcome.completed > outcome.faults / 2, "seed \(seed): \(outcome.completed) checkpoints for \(outcome.faults) faults")
    }
}
