import KeyedState
import StateCore

/// A stream partitioned by key: the next operator runs with keyed state, in a new vertex whose subtasks each own
/// a contiguous range of key groups.
public struct KeyedStream<Key, T>: Sendable {
    let stream: DataStream<T>
    let key: @Sendable (T) -> Key
    let keySerializer: any StateSerializer<Key>
    let serializer: any StateSerializer<T>

    /// Applies a keyed function made per subtask by `make`, in a new vertex `name`.
    /// - Parameters:
    ///   - name: The vertex name; with the subtask index it identifies the keyed state in checkpoints.
    ///   - parallelism: Subtasks (default: the job's).
    ///   - maxParallelism: Key groups of this operator (default: the job's); the most subtasks it can rescale to.
    public func process<F: KeyedProcessFunction>(
        name: String, parallelism: Int? = nil, maxParallelism: Int? = nil, _ make: @escaping @Sendable () -> F
    ) -> DataStream<F.Output> where F.Key == Key, F.Input == T {
        let key = self.key
        let keySerializer = self.keySerializer
        let serializer = self.serializer
        let vertex = self.stream.channelVertex(
            name: name, parallelism: parallelism ?? self.stream.job.defaultParallelism, partitioning: .keyGroupHash,
            serializer: serializer, keyBytes: { value, writer in keySerializer.serialize(key(value), into: &writer) })
        vertex.maxParallelism = maxParallelism
        return DataStream(job: self.stream.job, vertex: vertex) { task, downstream in
            let op = try KeyedProcessOperator(task: task, name: name, function: make(), key: key, keySerializer: keySerializer)
            task.operators.append(op)
            let out = Collector(downstream: downstream)
            op.out = out
            task.inputHandler = { bytes, restored in
                var count = 0
                try ByteReader.withReader(over: bytes) { (reader: inout ByteReader) throws in
                    while !reader.isAtEnd {
                        try op.process(try serializer.deserialize(from: &reader), restored: restored, out: out)
                        count += 1
                    }
                }
                task.recordsIn.add(count, ordering: .relaxed)
            }
        }
    }
}
