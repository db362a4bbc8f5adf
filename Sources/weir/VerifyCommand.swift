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
            Reads every referenced byte once. For a root, also lists shared files no completed checkpoint \\
            references (orphans; `weir gc` removes them) and incomplete checkpoint folders. Exit 1 when anything \\
            is wrong.

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
    }

    func run() throws {
        try InspectionSupport.run { () throws(CheckpointError) -> Int32 in
            let started = ContinuousClock.now
            let report: VerifyReport
            if FileManager.default.fileExists(atPath: self.path + "/_metadata") {
                let (inspector, metadata) = try CheckpointInspector.checkpoint(at: self.path)
                report = try inspector.verify(only: metadata)
            } else {
                report = try CheckpointInspector(root: self.path).verify()
            }
            let elapsed = started.duration(to: .now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            if self.json {
                print(InspectionSupport.jsonLine(Output(
                    ok: report.isClean, checkpoints: report.checkpoints, files: report.files,
                    bytes_read: report.bytesRead, seconds: seconds, problems: report.problems.map(\.description),
                    orphans: report.orphans, incomplete: report.incomplete)))
            } else {
                print("verified \(report.checkpoints.count) checkpoint(s), \(report.files) files, "
                      + "\(InspectionSupport.bytes(report.bytesRead)) read in \(String(format: "%.2f", seconds)) s")
                for problem in report.problems { print("PROBLEM \(problem)") }
                for orphan in report.orphans { print("orphan \(orphan) (referenced by no completed checkpoint)") }
                for folder in report.incomplete { print("incomplete \(folder) (aborted, or being written)") }
                print(report.isClean ? "OK" : "\(report.problems.count) problem(s)")
            }
            return report.isClean ? 0 : 1
        }
    }
}
