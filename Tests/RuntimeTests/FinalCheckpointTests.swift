import Checkpointing
import Foundation
import Inspection
import Runtime
import StateCore
import StateTestSupport
import Synchronization
import Testing

/// The checkpoint a bounded job takes after its sources end is complete on disk: run many times under load (two
/// busy threads beside the job), in every strategy and alignment, the root verifies clean after each run and its
/// latest checkpoint restores (before: about one run in six published it without files new to it).
@Suite(.serialized) struct FinalCheckpointTests {
    static let runs = 6

    @Test(arguments: ["changelog", "incremental", "full"], ["aligned", "unaligned"])
    func theFinalCheckpointIsPublishedWithAllItsFiles(strategy: String, alignment: String) throws {
        let busy = Atomic<Bool>(true)
        let burners = (0..<2).map { _ in
            Thread {
                var x: UInt64 = 1
                while busy.load(ordering: .relaxed) { x = x &* 6364136223846793005 &+ 1 }
                _ = x
            }
        }
        for burner in burners { burner.start() }
        defer { busy.store(false, ordering: .relaxed) }
        for run in 0..<Self.runs {
            let scratch = TemporaryDirectory(prefix: "weir-final")
            defer { scratch.remove() }
            let root = scratch.appending("checkpoints")
            let job = StreamJob.keyedCount(generator: GeneratorSource.Configuration(keys: 200, payloadBytes: 16, count: 4_000 + Int64(run) * 500))
            let kind = SnapshotStrategy.Kind(rawValue: strategy)!
            let result = try JobExecution(job: job, configuration: JobConfiguration(
                checkpointing: CheckpointConfiguration(
                    directory: root, interval: .milliseconds(15),
                    strategy: .named(kind, materializationInterval: .milliseconds(40)),
                    alignment: AlignmentMode(name: alignment, timeout: .milliseconds(5)) ?? .aligned),
                workingDirectory: scratch.appending("work"))).run()
            let label = "\(strategy)/\(alignment) run \(run)"
            #expect(result.checkpoints.contains { $0.status == .completed }, "\(label): no checkpoint completed")
            let report = try CheckpointInspector(root: root).verify()
            #expect(report.isClean, "\(label): \(report.problems.map(\.description))")
            let storage = try CheckpointStorage(root: root)
            let latest = try #require(storage.latest, "\(label): no completed checkpoint")
            storage.close()
            // The latest checkpoint restores: the same job, resumed from it, ends at once with every count.
            let resumed = try JobExecution(job: StreamJob.keyedCount(
                generator: GeneratorSource.Configuration(keys: 200, payloadBytes: 16, count: 4_000 + Int64(run) * 500)),
                configuration: JobConfiguration(
                    checkpointing: CheckpointConfiguration(directory: root, interval: .milliseconds(15), strategy: .named(kind)),
                    workingDirectory: scratch.appending("work2"), restore: .latest)).run()
            #expect(resumed.restoredFrom == [latest.checkpointID], "\(label): \(resumed.failures.map(\.message))")
        }
    }
}
