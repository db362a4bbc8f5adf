import ArgumentParser
import Checkpointing
import Inspection

/// `weir savepoint CHECKPOINT DIRECTORY`: turns a retained checkpoint into a self-contained savepoint.
struct SavepointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "savepoint",
        abstract: "Write a savepoint of a completed checkpoint: self-contained, for another engine or parallelism.",
        discussion: """
            Reads CHECKPOINT (a chk-<id> folder of a checkpoint root) and writes into DIRECTORY one state snapshot \
            file per backend, the materialized state with the changelog replayed, and a _metadata of kind \
            savepoint keeping the checkpoint's source positions and sink transactions. The savepoint references \
            nothing under the root: it survives the root's cleanup, moves anywhere, and `weir run \
            --from-savepoint DIRECTORY` starts a job from it at any parallelism, on either engine. An unaligned \
            checkpoint that holds in-flight records is refused (the stop checkpoint of a graceful stop never \
            holds any). Reads only; it does not take the root's lock.

            Example:
              weir savepoint /data/checkpoints/job-1/chk-42 /data/savepoints/job-1-42
            """
    )

    @Argument(help: "A chk-<id> folder of a checkpoint root.")
    var checkpoint: String

    @Argument(help: "A new directory for the savepoint (local, or s3://bucket/prefix).")
    var directory: String

    func run() throws {
        try InspectionSupport.run { () throws(CheckpointError) -> Int32 in
            let (inspector, metadata) = try CheckpointInspector.checkpoint(at: self.checkpoint)
            let savepoint = try inspector.exportSavepoint(
                metadata, to: self.directory, scratchDirectory: InspectionSupport.scratchDirectory("weir-savepoint"))
            let bytes = savepoint.backends.flatMap { $0.materialization?.files ?? [] }.reduce(0) { $0 + $1.size }
            print("savepoint of checkpoint \(metadata.checkpointID) written to \(self.directory): "
                + "\(savepoint.backends.count) backend(s), \(InspectionSupport.bytes(bytes))")
            return 0
        }
    }
}
