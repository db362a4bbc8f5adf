import ArgumentParser
import Checkpointing
import Inspection

/// `weir gc ROOT`: removes orphans and aborted checkpoints.
struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove aborted checkpoint folders and shared files no completed checkpoint references.",
        discussion: """
            Takes the root's lock, so it refuses to run while a job writes the root (exit 74). With --dry-run it \\
            only lists what would go (no lock). A root with a damaged checkpoint is left alone.

            Example:
              weir gc /data/checkpoints/job-1 --dry-run
            """
    )

    @Argument(help: "The checkpoint root.")
    var root: String

    @Option(help: "Completed checkpoints to keep (newest first).")
    var retained: Int = 1

    @Flag(help: "List what would be removed; remove nothing.")
    var dryRun = false

    func run() throws {
        try InspectionSupport.run { () throws(CheckpointError) -> Int32 in
            if self.dryRun {
                let inspector = try CheckpointInspector(root: self.root)
                let report = try inspector.verify()
                for folder in report.incomplete { print("would remove \(folder) (no _metadata)") }
                for orphan in report.orphans { print("would remove \(orphan) (referenced by no completed checkpoint)") }
                if report.incomplete.isEmpty && report.orphans.isEmpty { print("nothing to remove") }
                return 0
            }
            let storage = try CheckpointStorage(root: self.root, retained: self.retained)
            defer { storage.close() }
            let startup = storage.startup
            for folder in startup.removedAborted { print("removed \(folder) (no _metadata)") }
            for id in startup.removedSubsumed { print("removed chk-\(id) (beyond the \(self.retained) retained)") }
            for orphan in startup.removedOrphans { print("removed \(orphan)") }
            for (folder, error) in startup.damaged { print("left \(folder) alone: \(error.message)") }
            if startup.removedAborted.isEmpty && startup.removedSubsumed.isEmpty && startup.removedOrphans.isEmpty {
                print("nothing to remove")
            }
            return startup.damaged.isEmpty ? 0 : 1
        }
    }
}
