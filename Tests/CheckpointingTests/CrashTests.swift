@testable import Checkpointing
import Foundation
import KeyedState
import StateCore
import StateTestSupport
import Testing

/// A child process is killed (SIGKILL) at each named point of checkpointing; the latest completed checkpoint
/// must restore to exactly the reference model's state at that checkpoint, every file it references must exist,
/// and the next start must leave no orphans.
@Suite struct CrashTests {
    static let steps = 400
    static let seed: UInt64 = 21

    static var childPath: String {
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        return products + "/weir-crash-child"
    }

    /// The model after `checkpoint` checkpoints of the child's workload.
    static func model(at checkpoint: Int64) throws -> CheckpointWorkload.Model {
        let backend = KeyedStateBackend<Int64>.heap(keySerializer: .int64)
        let states = try CheckpointWorkload.register(backend)
        var workload = CheckpointWorkload(seed: Self.seed)
        for _ in 0..<(Int(checkpoint) * Self.steps) { try workload.step(states) }
        return workload.model
    }

    @Test(arguments: CrashPoint.allCases)
    func latestCompletedCheckpointSurvivesAKill(at point: CrashPoint) throws {
        let scratch = Scratch()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.childPath)
        process.arguments = [scratch.root, scratch.work, point.rawValue, "\(Self.seed)", "6", "\(Self.steps)", "4"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL,
                "the child must die at \(point.rawValue); it printed: \(text)")
        let completed = text.split(separator: "\n").compactMap { Int64($0.dropFirst("completed ".count)) }.last
        let last = try #require(completed)
        // The crash is armed at checkpoint 4. A cleanup crash point is hit on the background cleaner, which under
        // load can run after checkpoint 5 (or 6) completed.
        #expect(last >= 3 && last <= (point == .midCleanup ? 6 : 4), "\(point.rawValue): last completed \(last)")

        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        // The latest survives; the one it subsumed may too, when the kill came before the cleaner removed it in
        // the background (startup keeps every completed checkpoint; the next cleanup collects it).
        #expect(storage.completedCheckpoints.last == last, "\(storage.completedCheckpoints)")
        #expect(storage.completedCheckpoints.allSatisfy { $0 >= last - 1 }, "\(storage.completedCheckpoints)")
        let metadata = try storage.metadata(last)
        for path in metadata.referencedPaths {
            #expect(storage.fileSystem.exists(scratch.root + "/" + path), "\(path) of checkpoint \(last) was deleted")
        }
        let shared = Set(try storage.fileSystem.list(scratch.root + "/shared").map { "shared/\($0)" })
        #expect(shared == metadata.referencedPaths.filter { $0.hasPrefix("shared/") }, "orphans remain after start")
        let restored = try scratch.open(Setup.all[0], storage: storage, restore: .latest)
        let workload = CheckpointWorkload(seed: Self.seed)
        #expect(try workload.read(try CheckpointWorkload.register(restored.state)) == (try Self.model(at: last)))
        try restored.close()
    }
}
