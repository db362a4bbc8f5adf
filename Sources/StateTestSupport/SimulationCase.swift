import Checkpointing
import Runtime
import StateCore

/// One seeded simulation of the keyed-count job: everything a run varies, drawn from the seed, so that the seed
/// alone replays it (`weir-bench torture --seeds 1 --from SEED`).
public struct SimulationCase: Sendable, CustomStringConvertible {
    /// The seed everything below comes from.
    public var seed: UInt64
    /// How keyed state is checkpointed (changelog with a random materialization interval, incremental, full).
    public var strategy: SnapshotStrategy
    /// Aligned, unaligned, or aligned with a random timeout.
    public var alignment: AlignmentMode
    /// Time between checkpoint triggers.
    public var interval: Duration
    /// Keyed subtasks in the first run.
    public var parallelism: Int
    /// Keyed subtasks after the job is stopped and started again from its latest checkpoint (nil: no stop).
    public var rescaledParallelism: Int?
    /// Whether that stop is graceful (`stop()`, a last checkpoint) or abrupt (`cancel()`).
    public var gracefulStop: Bool
    /// Source subtasks (the same in both runs: source positions are per subtask).
    public var sourceParallelism: Int
    /// RocksDB (with or without KV separation) or the heap.
    public var engine: StateEngine
    /// Whether payloads go to RocksDB blob files.
    public var kvSeparation: Bool
    /// Local recovery and local rollback.
    public var localRecovery: Bool
    /// Records in all, and distinct keys.
    public var records: Int64
    public var keys: Int64
    /// Task exceptions: attempt `i` fails at the first input buffer after its task has taken in this many records
    /// (once a checkpoint has completed).
    public var taskFailures: [Int]
    /// The share of storage operations under the checkpoint root that fail (`FaultInjectingFileSystem`).
    public var faultRate: Double

    /// Draws a case from `seed`; `faultRate` overrides the drawn storage fault rate.
    public init(seed: UInt64, faultRate: Double? = nil) {
        var random = SeededGenerator(seed: seed &* 0x2545_F491_4F6C_DD1D &+ 1)
        func pick(_ count: Int) -> Int { Int(random.next() % UInt64(count)) }
        func between(_ low: Int, _ high: Int) -> Int { low + pick(high - low + 1) }
        self.seed = seed
        switch pick(3) {
        case 0: self.strategy = .changelog(materializationInterval: .milliseconds(Int64(between(50, 600))))
        case 1: self.strategy = .incremental
        default: self.strategy = .full
        }
        switch pick(3) {
        case 0: self.alignment = .aligned
        case 1: self.alignment = .unaligned
        default: self.alignment = .alignmentTimeout(.milliseconds(Int64(between(1, 20))))
        }
        self.interval = .milliseconds(Int64(between(20, 90)))
        self.parallelism = between(1, 3)
        let rescales = pick(3) == 0
        self.rescaledParallelism = rescales ? between(1, 3) : nil
        self.gracefulStop = pick(2) == 0
        self.sourceParallelism = between(1, 2)
        // The heap has no incremental snapshots (a job refuses that pair before it starts).
        self.engine = pick(4) == 0 && self.strategy.kind != .incremental ? .heap : .rocksDB(.perOperator)
        self.kvSeparation = pick(2) == 0
        self.localRecovery = pick(4) != 0
        let records = between(3, 12) * 1_000
        self.records = Int64(records)
        self.keys = Int64([20, 100, 400][pick(3)])
        var failures: [Int] = []
        for _ in 0..<pick(4) { failures.append(between(200, records / 3)) }
        self.taskFailures = failures
        self.faultRate = faultRate ?? [0, 0, 0.002, 0.01][pick(4)]
        // Drawn last, so the draws above are what they were before kills existed.
        self.killAfter = pick(3) == 0 ? .milliseconds(Int64(between(0, 400))) : nil
    }

    /// `kill -9` of the first run, which then runs in a child process: this long after its first completed
    /// checkpoint (nil: no kill). Only on a local root.
    public var killAfter: Duration?

    /// Whether the root is on object storage (`Simulation.run` with a server), not a local directory.
    public var onObjectStorage = false

    /// How long the sources take to emit every record (paced, so that checkpoints fall all through the input).
    public var inputSeconds = 1.2

    /// The generator's configuration.
    public var generator: GeneratorSource.Configuration {
        GeneratorSource.Configuration(
            keys: self.keys, payloadBytes: 32, seed: self.seed, count: self.records, rate: Double(self.records) / self.inputSeconds)
    }

    /// Every line a failure-free run commits, sorted: for each key, `key,1` … `key,n`.
    public var expectedLines: [String] {
        var counts: [Int64: Int64] = [:]
        var lines: [String] = []
        lines.reserveCapacity(Int(self.records))
        for index in 0..<self.records {
            let key = GeneratorSource.key(of: index, configuration: self.generator)
            counts[key, default: 0] += 1
            lines.append("\(key),\(counts[key]!)")
        }
        return lines.sorted()
    }

    /// The one command that replays this case.
    public var replayCommand: String {
        "swift run -c release weir-bench torture --seeds 1 --from \(self.seed)"
            + (self.faultRate > 0 ? " --fault-rate \(self.faultRate)" : "")
            + (self.onObjectStorage ? " --object-storage" : "")
    }

    public var description: String {
        let engine: String =
            switch self.engine {
            case .heap: "heap"
            case .rocksDB: self.kvSeparation ? "rocksdb+blobs" : "rocksdb"
            }
        let strategy =
            self.strategy.kind == .changelog
            ? "changelog (materialize every \(self.strategy.materializationInterval))" : self.strategy.kind.rawValue
        let stop = self.rescaledParallelism.map { "\(self.gracefulStop ? "stop" : "cancel") → \($0) subtasks" } ?? "no stop"
        return "seed \(self.seed): \(strategy), \(self.alignment), every \(self.interval), \(self.parallelism) keyed / "
            + "\(self.sourceParallelism) source subtasks, \(stop), \(engine), local recovery \(self.localRecovery ? "on" : "off"), "
            + "\(self.records) records over \(self.keys) keys, task failures at \(self.taskFailures), "
            + (self.killAfter.map { "kill -9 \($0) after the first checkpoint, " } ?? "")
            + "storage faults \(self.faultRate)\(self.onObjectStorage ? " on object storage" : "")"
    }
}
