import Checkpointing
import Foundation
import Inspection
import StateTestSupport
import Synchronization
import Testing

/// `verify` on a root a job is writing: the job publishes a checkpoint and subsumes the one verify is reading
/// (its `_metadata` first, then the files only it referenced). That is the job's cleanup, not damage: the
/// checkpoint is reported as subsumed, not as damaged. Damage to a file a remaining checkpoint also references is
/// still reported, under that checkpoint.
@Suite struct LiveVerifyTests {
    /// Runs `body` once, on the first call, from whichever thread gets there.
    final class Once: Sendable {
        private let body: Mutex<(@Sendable () -> Void)?>
        init(_ body: @escaping @Sendable () -> Void) { self.body = Mutex(body) }
        func callAsFunction() { self.body.withLock { body in body.take() }?() }
    }

    /// The job side: a backend on a root that keeps one checkpoint, driven by the seeded workload.
    final class Job: @unchecked Sendable {    // used by the test thread only, also inside the read hook
        let storage: CheckpointStorage
        let backend: CheckpointedBackend<Int64>
        let states: CheckpointWorkload.States
        var workload = CheckpointWorkload(seed: 17)

        init(_ scratch: Scratch, _ setup: Setup) throws {
            self.storage = try CheckpointStorage(root: scratch.root, retained: 1)
            self.backend = try scratch.open(setup, storage: self.storage)
            self.states = try CheckpointWorkload.register(self.backend.state)
        }

        /// Changes state, materializes when asked, and publishes the next checkpoint (subsuming the previous one).
        func checkpoint(materialize: Bool) throws -> Int64 {
            for _ in 0..<400 { try self.workload.step(self.states) }
            if materialize { try self.backend.materializeNow() }
            let id = try self.backend.checkpoint()
            self.storage.waitForCleanup()
            return id
        }

        func close() throws {
            try self.backend.close()
            self.storage.close()
        }
    }

    static func metadata(_ root: String, _ id: Int64) throws -> CheckpointMetadata {
        let path = "\(root)/chk-\(id)/_metadata"
        return try CheckpointMetadata.decode(try LocalFileSystem().read(path), path: path)
    }

    /// Checkpoint 1 on a fresh root, then a root-wide verify during whose first ranged read `moveOn` runs (the
    /// job's next step, given the job, the root and checkpoint 1's paths); returns the report and checkpoint 1.
    static func verify(
        _ setup: Setup, _ scratch: Scratch, whileTheJob moveOn: @escaping @Sendable (Job, String, Set<String>) -> Void
    ) throws -> (report: VerifyReport, first: Int64) {
        let job = try Job(scratch, setup)
        let first = try job.checkpoint(materialize: false)
        let root = scratch.root
        let paths = try Self.metadata(root, first).referencedPaths
        let advance = Once { moveOn(job, root, paths) }
        let inspector = try CheckpointInspector(root: root, fileSystem: InterceptingFileSystem(beforeRead: { _ in advance() }))
        let report = try inspector.verify()
        try job.close()
        return (report, first)
    }

    @Test(arguments: Setup.all)
    func aCheckpointSubsumedWhileItIsReadIsNotReportedAsDamaged(setup: Setup) throws {
        let scratch = Scratch()
        let removed = Mutex<[String]>([])
        let (report, first) = try Self.verify(setup, scratch) { job, root, paths in
            // The job materializes and checkpoints while verify reads the first checkpoint's files.
            _ = try! job.checkpoint(materialize: true)
            removed.withLock { $0 = paths.filter { !FileManager.default.fileExists(atPath: "\(root)/\($0)") } }
        }
        #expect(!FileManager.default.fileExists(atPath: "\(scratch.root)/chk-\(first)/_metadata"), "the job subsumed it")
        #expect(!removed.withLock { $0 }.isEmpty, "the job deleted files the first checkpoint referenced")
        #expect(report.problems.isEmpty, "\(report.problems.map(\.description))")
        #expect(report.subsumed == [first])
        #expect(report.checkpoints.isEmpty)
        // Verified afterwards, the root is clean.
        #expect(try CheckpointInspector(root: scratch.root).verify().isClean)
    }

    @Test(arguments: Setup.all.filter { $0.strategy.kind == .changelog })
    func damageToAFileTheNextCheckpointSharesIsStillReported(setup: Setup) throws {
        let scratch = Scratch()
        let damaged = Mutex<(id: Int64, path: String)?>(nil)
        let (report, first) = try Self.verify(setup, scratch) { job, root, paths in
            // No materialization: the next checkpoint's changelog still uses the first one's segments. Then one
            // of them loses its last byte.
            let second = try! job.checkpoint(materialize: false)
            let path = try! Self.metadata(root, second).referencedPaths.intersection(paths).sorted().first!
            let handle = Foundation.FileHandle(forWritingAtPath: "\(root)/\(path)")!
            try! handle.truncate(atOffset: try! handle.seekToEnd() - 1)
            try! handle.close()
            damaged.withLock { $0 = (second, path) }
        }
        let (second, path) = try #require(damaged.withLock { $0 })
        #expect(report.subsumed == [first])
        #expect(report.problems.count == 1, "\(report.problems.map(\.description))")
        #expect(report.problems.first?.checkpointID == second)
        #expect(report.problems.first?.path == path)
        #expect(!report.isClean)
    }
}
