import KeyedState
import StateCore
import Synchronization

/// A streaming job under construction: sources, operators and sinks, and the channels between them.
///
/// `map`, `filter`, `flatMap` and sinks run in the task of the stream they follow (chained, no serialization);
/// `keyBy(…).process(…)`, `rebalance` and `broadcast` start a new vertex behind a channel.
///
/// A `DataStream<T>` is a vertex plus a function that wires its producer into a task (`attach`); chaining composes
/// closures onto the same vertex. `keyBy(…).process(…)`, `rebalance`, `broadcast` and `forward` end the vertex in
/// a `RecordWriter` and start a new vertex whose input deserializes records with the edge's serializer. Each
/// vertex is built (`VertexSpec.build`) once per subtask and attempt, on the subtask's thread, so restore work
/// (RocksDB open, changelog replay) runs in parallel.
///
/// ```swift
/// let job = StreamJob(name: "keyed-count")
/// job.generator(GeneratorSource.Configuration(keys: 1_000_000, payloadBytes: 100), parallelism: 2)
///     .keyBy { $0.key }
///     .process(name: "count") { KeyedCount() }
///     .sink(name: "sink") { _ in CountingSink<Int64>() }
/// let result = try JobExecution(job: job, configuration: configuration).run()
/// ```
public final class StreamJob: Sendable {
    /// The job's name.
    public let name: String
    private let graph: Mutex<Graph>

    /// The vertices so far and the default parallelism (a job is built on one thread and run on others).
    private struct Graph {
        var defaultParallelism: Int
        var vertices: [VertexSpec] = []
    }

    /// Creates an empty job.
    public init(name: String, defaultParallelism: Int = 2) {
        self.name = name
        self.graph = Mutex(Graph(defaultParallelism: defaultParallelism))
    }

    /// The default parallelism of vertices that do not set one. Default 2.
    public var defaultParallelism: Int {
        get { self.graph.withLock { $0.defaultParallelism } }
        set { self.graph.withLock { $0.defaultParallelism = newValue } }
    }

    /// The vertices, in the order they were added.
    var vertices: [VertexSpec] { self.graph.withLock { $0.vertices } }

    /// Adds a source vertex whose subtasks each run one source made by `make`.
    /// - Parameters:
    ///   - name: The vertex name (unique in the job; it names state in checkpoints).
    ///   - parallelism: Subtasks (default: the job's).
    ///   - make: Creates subtask `context.subtask`'s source.
    public func source<S: SourceFunction>(
        name: String, parallelism: Int? = nil, _ make: @escaping @Sendable (SourceContext) throws -> S
    ) -> DataStream<S.Output> {
        let vertex = self.addVertex(name: name, parallelism: parallelism ?? self.defaultParallelism, isSource: true)
        return DataStream(job: self, vertex: vertex) { task, downstream in
            let source = try make(SourceContext(task: task))
            try source.restore(task.restoredOperatorState(name))
            task.operators.append(SourceHooks(name: name, source: source))
            task.sourceDriver = { limit in
                try source.emit(limit: limit) { value in
                    task.sourceRecords += 1
                    try downstream(value)
                }
            }
        }
    }

    func addVertex(name: String, parallelism: Int, isSource: Bool) -> VertexSpec {
        self.graph.withLock { graph in
            let vertex = VertexSpec(name: name, index: graph.vertices.count, parallelism: parallelism, isSource: isSource)
            graph.vertices.append(vertex)
            return vertex
        }
    }

    /// Checks the graph: unique names, every vertex built once, parallelism in range.
    func validate(maxParallelism: Int) throws(RuntimeError) {
        var names = Set<String>()
        for vertex in self.vertices {
            guard names.insert(vertex.name).inserted else {
                throw RuntimeError(code: .invalidJob, message: "two vertices are named '\(vertex.name)'; give each operator that starts a vertex a unique name")
            }
            let keyGroups = vertex.maxParallelism ?? maxParallelism
            guard keyGroups >= 1 && keyGroups <= Limits.maxParallelismMax else {
                throw RuntimeError(code: .invalidJob, message: "vertex '\(vertex.name)' has maxParallelism \(keyGroups); it must be in 1...\(Limits.maxParallelismMax)")
            }
            guard vertex.parallelism >= 1 && vertex.parallelism <= keyGroups else {
                throw RuntimeError(code: .invalidJob, message: "vertex '\(vertex.name)' has parallelism \(vertex.parallelism); it must be in 1...\(keyGroups) (its maxParallelism)")
            }
            guard vertex.build != nil else {
                throw RuntimeError(code: .invalidJob, message: "the stream of vertex '\(vertex.name)' ends nowhere; add a sink")
            }
            guard vertex.consumers <= 1 else {
                throw RuntimeError(code: .invalidJob, message: "the stream of vertex '\(vertex.name)' feeds \(vertex.consumers) consumers; a stream feeds one (use broadcast or two jobs)")
            }
        }
    }
}

/// One vertex of the job graph: an operator chain run by `parallelism` subtasks.
final class VertexSpec: Sendable {
    let name: String
    let index: Int
    let parallelism: Int
    let isSource: Bool
    private let wiring = Mutex(Wiring())

    /// What building the job sets after the vertex is added (and tasks read when they start).
    private struct Wiring {
        var maxParallelism: Int?
        var inputs: [EdgeSpec] = []
        var build: (@Sendable (StreamTask) throws -> Void)?
        var consumers = 0
    }

    init(name: String, index: Int, parallelism: Int, isSource: Bool) {
        self.name = name
        self.index = index
        self.parallelism = parallelism
        self.isSource = isSource
    }

    /// The number of key groups of a keyed vertex (nil: the job's `maxParallelism`).
    var maxParallelism: Int? {
        get { self.wiring.withLock { $0.maxParallelism } }
        set { self.wiring.withLock { $0.maxParallelism = newValue } }
    }

    /// The vertices feeding this one, with the partitioning of each edge.
    var inputs: [EdgeSpec] { self.wiring.withLock { $0.inputs } }

    /// Builds the chain into a task (set when the stream is terminated by a sink or a channel).
    var build: (@Sendable (StreamTask) throws -> Void)? { self.wiring.withLock { $0.build } }

    /// How many streams end in this vertex's output (a valid job has one).
    var consumers: Int { self.wiring.withLock { $0.consumers } }

    /// Adds an input edge.
    func addInput(_ edge: EdgeSpec) { self.wiring.withLock { $0.inputs.append(edge) } }

    /// Ends the vertex's stream in `build` (counting consumers: a second one makes the job invalid).
    func terminate(_ build: @escaping @Sendable (StreamTask) throws -> Void) {
        self.wiring.withLock {
            $0.consumers += 1
            $0.build = build
        }
    }

    /// The number of input channels of each subtask.
    var inputChannelCount: Int { self.inputs.reduce(0) { $0 + $1.source.parallelism } }
}

/// A channel edge between two vertices.
struct EdgeSpec: Sendable {
    let source: VertexSpec
    let partitioning: Partitioning
}

/// How records of an edge are spread over the consumer's subtasks.
public enum Partitioning: Sendable, Hashable {
    /// Subtask i to subtask i (same parallelism).
    case forward
    /// By key group of the record's key.
    case keyGroupHash
    /// Round robin.
    case rebalance
    /// Every record to every subtask.
    case broadcast
}
