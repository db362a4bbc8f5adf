import ArgumentParser
import Checkpointing
import Foundation
import Inspection

/// `weir verify ROOT|CHECKPOINT`: checks files, checksums, formats and SQN continuity.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a checkpoint root or one checkpoint: files, sizes, checksums, formats, SQN continuity.",
        discussion: """
            Reads every referenced byte once. For a root, also lists shared files no completed checkpoint \
            references (orphans; `weir gc` removes them) and incomplete checkpoint folders. Exit 1 when anything \
            is wrong.

            Safe beside a running job: a checkpoint the job subsumes (removes) while verify reads it is listed as \
            subsumed, not as damaged; a problem with a file a remaining checkpoint also references is still \
            reported. Verifying one checkpoint that gets subsumed meanwhile exits 1 (nothing was verified).

            Example:
              weir verify /data/checkpoints/job-1
            """
    )

    @Argument(help: "A checkpoint root, a chk-<id> folder, or a savepoint directory.")
    var path: String

    @Flag(help: "The report as one JSON object.")
    var json = false

    struct Output: Encodable {
        var ok: Bool
        var checkpoints: [Int64]
        var files: Int
        var bytes_read: Int
        var seconds: Double
        var problems: [String]
        var orphans: [String]
        var incomplete: [String]
        var subsumed: [Int64]
    }

    func run() throws {
        try InspectionSupport.run { () throws(CheckpointError) -> Int32 in
            let started = ContinuousClock.now
            let report: VerifyReport
            let single = try ObjectStoreFileSystem.forPath(self.path).exists(self.path + "/_metadata")
            if single {
                let (inspector, metadata) = try CheckpointInspector.checkpoint(at: self.path)
                report = try inspector.verify(only: metadata)
            } else {
                report = try CheckpointInspector(root: self.path).verify()
            }
            let ok = report.isClean && !(single && !report.subsumed.isEmpty)
            let elapsed = started.duration(to: .now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            if self.json {
                print(InspectionSupport.jsonLine(Output(
                    ok: ok, checkpoints: report.checkpoints, files: report.files,
                    bytes_read: report.bytesRead, seconds: seconds, problems: report.problems.map(\.description),
                    orphans: report.orphans, incomplete: report.incomplete, subsumed: report.subsumed)))
            } else {
                print("verified \(report.checkpoints.count) checkpoint(s), \(report.files) files, "
                      + "\(InspectionSupport.bytes(report.bytesRead)) read in \(String(format: "%.2f", seconds)) s")
                for problem in report.problems { print("PROBLEM \(problem)") }
                for orphan in report.orphans { print("orphan \(orphan) (referenced by no completed checkpoint)") }
                for folder in report.incomplete { print("incomplete \(folder) (aborted, or being written)") }
                for id in report.subsumed {
                    print("subsumed chk-\(id) (the running job removed it while it was read; not verified)")
                }
                print(ok ? "OK" : report.isClean ? "nothing verified" : "\(report.problems.count) problem(s)")
            }
            return ok ? 0 : 1
        }
    }
}
