import ArgumentParser
import Checkpointing
import Inspection

/// `weir gc ROOT`: removes what no completed checkpoint needs; older completed checkpoints only when asked.
struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove aborted checkpoint folders and files no completed checkpoint references.",
        discussion: """
            Takes the root's lock (with --dry-run too), so it refuses to run while a job writes the root (exit \
            74). Completed checkpoints are kept, all of them, unless --keep N asks to remove all but the newest N. \
            It first verifies the root; when any checkpoint is damaged (unreadable metadata, a missing or changed \
            file, an unsafe path) it removes nothing and exits 1. --dry-run prints exactly what the same command \
            without it removes.

            Example:
              weir gc /data/checkpoints/job-1 --dry-run
              weir gc /data/checkpoints/job-1 --keep 2
            """
    )

    @Argument(help: "The checkpoint root.")
    var root: String

    @Option(
        name: [.customLong("keep"), .customLong("retained")],
        help: "Also remove completed checkpoints: all but the newest N (default: remove none).")
    var keep: Int?

    @Flag(help: "Print what would be removed; remove nothing.")
    var dryRun = false

    func validate() throws {
        if let keep = self.keep, keep < 1 { throw ValidationError("--keep must be at least 1") }
    }

    func run() throws {
        try InspectionSupport.run { () throws(CheckpointError) -> Int32 in
            // A missing root is an error here, not a new empty root.
            _ = try CheckpointInspector(root: self.root)
            let storage = try CheckpointStorage(root: self.root, cleanup: .none)
            defer { storage.close() }
            let report = try CheckpointInspector(root: self.root).verify()
            guard report.isClean else {
                for problem in report.problems {
                    print("damaged: " + (problem.checkpointID.map { "checkpoint \($0): " } ?? "") + problem.message)
                }
                print("removed nothing: the root has damaged checkpoints. Run `weir verify \(self.root)`; restore or "
                    + "move the damaged ones away before collecting.")
                return 1
            }
            let plan = storage.collectionPlan(keepingNewest: self.keep)
            let verb = self.dryRun ? "would remove" : "removed"
            if !self.dryRun { try storage.collect(plan) }
            for id in plan.checkpoints { print("\(verb) chk-\(id) (older than the newest \(self.keep ?? 0) kept)") }
            for folder in plan.aborted { print("\(verb) \(folder) (no _metadata)") }
            for file in plan.files { print("\(verb) \(file) (referenced by no kept checkpoint)") }
            if plan.isEmpty { print("nothing to remove") }
            return 0
        }
    }
}
