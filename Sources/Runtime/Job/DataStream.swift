import KeyedState
import StateCore

/// A stream of `T` records in a job under construction. Operations return new streams; a stream feeds exactly
/// one consumer (an operator, a sink, or a channel to another vertex).
public struct DataStream<T>: Sendable {
    let job: StreamJob
    let vertex: VertexSpec
    /// Wires this stream's producer into a task, delivering each record to the given consumer.
    let attach: @Sendable (StreamTask, @escaping (T) throws -> Void) throws -> Void

    init(job: StreamJob, vertex: VertexSpec, attach: @escaping @Sendable (StreamTask, @escaping (T) throws -> Void) throws -> Void) {
        self.job = job
        self.vertex = vertex
        self.attach = attach
    }

    /// Applies `transform` to every record (chained: same task, no serialization).
    public func map<U>(_ transform: @escaping @Sendable (T) throws -> U) -> DataStream<U> {
        let attach = self.attach
        return DataStream<U>(job: self.job, vertex: self.vertex) { task, downstream in
            try attach(task) { try downstream(try transform($0)) }
        }
    }

    /// Keeps the records for which `isIncluded` is true (chained).
    public func filter(_ isIncluded: @escaping @Sendable (T) throws -> Bool) -> DataStream<T> {
        let attach = self.attach
        return DataStream(job: self.job, vertex: self.vertex) { task, downstream in
            try attach(task) { if try isIncluded($0) { try downstream($0) } }
        }
    }

    /// Replaces every record by the records `transform` returns (chained).
    public func flatMap<U>(_ transform: @escaping @Sendable (T) throws -> [U]) -> DataStream<U> {
        let attach = self.attach
        return DataStream<U>(job: self.job, vertex: self.vertex) { task, downstream in
            try attach(task) { for value in try transform($0) { try downstream(value) } }
        }
    }

    /// Partitions the stream by key: every record with the same key goes to the same subtask of the next
    /// operator, which owns the key's key group.
    public func keyBy<Key>(
        _ key: @escaping @Sendable (T) -> Key, keySerializer: any StateSerializer<Key>, serializer: any StateSerializer<T>
    ) -> KeyedStream<Key, T> {
        KeyedStream(stream: self, key: key, keySerializer: keySerializer, serializer: serializer)
    }

    /// Spreads records round robin over `parallelism` subtasks of a new vertex `name`.
    public func rebalance(name: String, parallelism: Int? = nil, serializer: any StateSerializer<T>) -> DataStream<T> {
        self.channel(to: name, parallelism: parallelism ?? self.job.defaultParallelism, partitioning: .rebalance, serializer: serializer)
    }

    /// Sends every record to every subtask of a new vertex `name`.
    public func broadcast(name: String, parallelism: Int? = nil, serializer: any StateSerializer<T>) -> DataStream<T> {
        self.channel(to: name, parallelism: parallelism ?? self.job.defaultParallelism, partitioning: .broadcast, serializer: serializer)
    }

    /// Sends subtask i's records to subtask i of a new vertex `name` with the same parallelism.
    public func forward(name: String, serializer: any StateSerializer<T>) -> DataStream<T> {
        self.channel(to: name, parallelism: self.vertex.parallelism, partitioning: .forward, serializer: serializer)
    }

    /// Ends the stream in a sink made per subtask by `make` (chained into this stream's task).
    /// - Parameter name: Names the sink's state in checkpoints (unique within the vertex).
    public func sink<S: SinkFunction>(name: String, _ make: @escaping @Sendable (SinkContext) throws -> S) where S.Input == T {
        let attach = self.attach
        self.terminate { task in
            let sink = try make(SinkContext(task: task, name: name))
            try sink.restore(task.restoredOperatorStates(name))
            task.operators.append(SinkHooks(name: name, sink: sink))
            try attach(task) { try sink.write($0) }
        }
    }

    func terminate(_ build: @escaping @Sendable (StreamTask) throws -> Void) {
        self.vertex.terminate(build)
    }

    /// Ends this vertex in a channel to a new vertex and returns the new vertex's stream of the same records.
    func channel(to name: String, parallelism: Int, partitioning: Partitioning, serializer: any StateSerializer<T>)
        -> DataStream<T>
    {
        let downstream = self.channelVertex(
            name: name, parallelism: parallelism, partitioning: partitioning, serializer: serializer, keyBytes: nil)
        return DataStream(job: self.job, vertex: downstream) { task, consume in
            task.inputHandler = { bytes, _ in
                try ByteReader.withReader(over: bytes) { (reader: inout ByteReader) throws in
                    var count = 0
                    while !reader.isAtEnd {
                        try consume(try serializer.deserialize(from: &reader))
                        count += 1
                    }
                    task.recordsIn.add(count, ordering: .relaxed)
                }
            }
        }
    }

    /// Ends this vertex in a channel to a new vertex `name` and returns that vertex.
    /// - Parameter keyBytes: For `keyGroupHash`: writes a record's serialized key.
    func channelVertex(
        name: String, parallelism: Int, partitioning: Partitioning, serializer: any StateSerializer<T>,
        keyBytes: (@Sendable (T, inout ByteWriter) -> Void)?
    ) -> VertexSpec {
        let downstream = self.job.addVertex(name: name, parallelism: parallelism, isSource: false)
        downstream.addInput(EdgeSpec(source: self.vertex, partitioning: partitioning))
        let attach = self.attach
        self.terminate { task in
            let writer = RecordWriter<T>(
                task: task, targets: task.targets(of: downstream), partitioning: partitioning, serializer: serializer,
                keyBytes: keyBytes, maxParallelism: downstream.maxParallelism ?? task.execution.configuration.maxParallelism)
            task.outputs.append(writer)
            try attach(task) { try writer.emit($0) }
        }
        return downstream
    }
}

extension DataStream where T: StreamSerializable {
    /// `keyBy` with the record type's own serializer.
    public func keyBy<Key: StreamSerializable>(_ key: @escaping @Sendable (T) -> Key) -> KeyedStream<Key, T> {
        self.keyBy(key, keySerializer: Key.streamSerializer, serializer: T.streamSerializer)
    }
}
