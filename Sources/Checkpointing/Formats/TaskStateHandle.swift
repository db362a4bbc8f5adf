/// One runtime task's non-keyed part of a checkpoint: its operators' small state (source positions, pending sink
/// transactions) and the in-flight data it persisted as channel state (unaligned checkpoints).
public struct TaskStateHandle: Sendable, Hashable, Codable {
    /// The vertex (operator chain) name in the job graph.
    public var vertex: String
    /// The subtask index.
    public var subtask: Int
    /// The vertex's parallelism when the checkpoint was taken.
    public var parallelism: Int
    /// Small per-operator values by name (`generator.next`, `sink.pending`…), readable in `weir show`.
    public var operatorState: [String: String]
    /// The channel-state file (`docs/FORMATS.md`), if the task persisted in-flight buffers.
    public var channelState: StoredFile?
    /// Bytes of in-flight record data in `channelState`.
    public var inflightBytes: Int

    /// Creates a handle.
    public init(
        vertex: String, subtask: Int, parallelism: Int, operatorState: [String: String] = [:],
        channelState: StoredFile? = nil, inflightBytes: Int = 0
    ) {
        self.vertex = vertex
        self.subtask = subtask
        self.parallelism = parallelism
        self.operatorState = operatorState
        self.channelState = channelState
        self.inflightBytes = inflightBytes
    }
}
