import Checkpointing

/// The figures of one checkpoint, as the coordinator saw them.
public struct CheckpointStatistics: Sendable, Hashable, Codable {
    /// How the checkpoint ended.
    public enum Status: String, Sendable, Hashable, Codable {
        /// Published: restorable.
        case completed
        /// Given up (timeout, failure); earlier checkpoints are intact.
        case aborted
    }

    /// The checkpoint.
    public var checkpointID: Int64
    /// How it ended.
    public var status: Status
    /// From trigger to published metadata (or to the abort).
    public var endToEnd: Duration
    /// The longest time from the trigger until a task saw the checkpoint's first barrier (Flink's "start
    /// delay"): mostly in-flight data queued ahead of the barrier. Zero for aborted checkpoints.
    public var maxStartDelay: Duration
    /// The longest synchronous snapshot part of any task.
    public var maxSynchronous: Duration
    /// The longest asynchronous part (channel-state write) of any task.
    public var maxAsynchronous: Duration
    /// The longest time any task took from its first barrier to its snapshot.
    public var maxAlignment: Duration
    /// The coordinator's part after the last acknowledgement: writing and syncing the metadata.
    public var publish: Duration
    /// Whether any task took it unaligned.
    public var unaligned: Bool
    /// In-flight record bytes persisted as channel state.
    public var inflightBytes: Int
    /// Bytes this checkpoint added: files and changelog sections no earlier checkpoint referenced.
    public var checkpointedBytes: Int
    /// Bytes of everything the checkpoint references (the size of a restore).
    public var stateBytes: Int
    /// Why it was aborted.
    public var failure: String?
}

/// Sizes of a checkpoint's pieces: materialized files by path, changelog sections by path and offset, channel
/// state files.
struct CheckpointPieces: Sendable {
    var sizes: [String: Int] = [:]

    init(_ metadata: CheckpointMetadata?) {
        guard let metadata else { return }
        for backend in metadata.backends {
            for file in backend.materialization?.files ?? [] { self.sizes[file.path] = file.size }
            for section in backend.changelog { self.sizes["\(section.file.path)@\(section.offset)"] = section.length }
        }
        for task in metadata.tasks ?? [] {
            if let file = task.channelState { self.sizes[file.path] = file.size }
        }
    }

    var total: Int { self.sizes.values.reduce(0, +) }

    func bytesNotIn(_ other: CheckpointPieces) -> Int {
        self.sizes.reduce(0) { other.sizes[$1.key] == nil ? $0 + $1.value : $0 }
    }
}
