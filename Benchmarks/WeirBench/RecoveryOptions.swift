import ArgumentParser
import Checkpointing
import RocksKit
import Runtime

/// Every knob of the standard recovery workload (all defaults are the standard workload).
struct RecoveryOptions: ParsableArguments {
    @Option(help: "Snapshot strategy: changelog, incremental or full.")
    var strategy: SnapshotStrategy.Kind = .changelog

    @Option(help: "Changelog materialization interval in seconds.")
    var materializationInterval: Double = 30

    @Flag(inversion: .prefixedNo, help: "Keep payloads of at least --min-blob-size bytes in RocksDB blob files (KV separation).")
    var kvSeparation = false

    @Option(help: "Smallest value put into blob files with --kv-separation.")
    var minBlobSize: Int = 1_024

    @Option(help: "Barrier alignment: aligned, unaligned or timeout.")
    var alignment: String = "aligned"

    @Option(help: "Alignment timeout in milliseconds (--alignment timeout).")
    var alignmentTimeout: Int = 20

    @Option(help: "Sink sleep in microseconds after every 100 records (0: none): backpressure.")
    var sinkThrottle: Int = 0

    @Option(help: "Distinct keys (uniform).")
    var keys: Int64 = 1_000_000

    @Option(help: "Payload bytes.")
    var payload: Int = 100

    @Option(help: "Subtasks per vertex.")
    var parallelism: Int = 2

    @Option(help: "Seconds the job runs in all.")
    var duration: Double = 30

    @Option(help: "Seconds at the start not counted in the steady-state figures.")
    var warmup: Double = 5

    @Option(help: "Checkpoint interval in milliseconds.")
    var interval: Int = 1_000

    @Option(help: "Failure: none, exception (a task throws inside the process) or kill (kill -9 of a child process, restarted with restore).")
    var failure: String = "none"

    @Option(help: "Seconds after the start when the failure happens.")
    var failureAt: Double = 15

    @Flag(inversion: .prefixedNo, help: "Restore from the local copy of the materialization when it is there.")
    var localRecovery = true

    @Option(help: "The checkpoint root: a directory, or s3://bucket/prefix (configured by AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; each run writes under a new prefix below it and removes it afterwards). Default: a checkpoints directory in the scratch directory.")
    var checkpointDirectory: String?

    @Flag(help: "With --failure kill: delete the working directory (local copies included) and start with an empty object cache before the restart, as a fresh machine would.")
    var freshMachine = false

    @Option(help: "Buffers (32 KiB) per channel before the producer blocks.")
    var channelCapacity: Int = 4

    @Option(help: "Buffer debloating target in milliseconds: the time a task's queued input should last at its measured throughput (0: off, full 32 KiB buffers).")
    var debloatTarget: Int = Int(BufferDebloating().target / .milliseconds(1))

    @Option(help: "RocksDB memtable size per column family, in MiB.")
    var writeBufferMib: Int = 16

    @Option(help: "RocksDB memtables a column family may hold (the active one and those waiting for a flush) before writes stop.")
    var writeBuffers: Int = RocksOptions().maxWriteBufferNumber

    @Flag(inversion: .prefixedNo, help: "Keep RocksDB statistics (tickers, and timers on every get and write).")
    var rocksdbStatistics: Bool = RocksOptions().statistics

    @Option(help: "RocksDB memtable whole-key Bloom filter size as a fraction of the memtable (0: off).")
    var memtableBloom: Double = RocksOptions().memtableBloomRatio

    @Option(help: "RocksDB flushes a database may run at once (0: RocksDB's share of the 2 background jobs, 1).")
    var flushThreads: Int = RocksOptions().maxBackgroundFlushes ?? 0

    @Option(help: "RocksDB block cache per backend, in MiB.")
    var blockCacheMib: Int = 32

    @Option(help: "Seed of the generator.")
    var seed: UInt64 = 42

    func validate() throws {
        guard ["aligned", "unaligned", "timeout"].contains(self.alignment) else { throw ValidationError("--alignment must be aligned, unaligned or timeout") }
        guard ["none", "exception", "kill"].contains(self.failure) else { throw ValidationError("--failure must be none, exception or kill") }
        guard self.debloatTarget >= 0 else { throw ValidationError("--debloat-target must be 0 (off) or positive") }
        guard self.duration > self.warmup, self.warmup >= 0, self.interval > 0, self.keys > 0, self.payload >= 0 else {
            throw ValidationError("--duration must exceed --warmup; --interval and --keys must be positive")
        }
        guard self.failure == "none" || (self.failureAt > self.warmup && self.failureAt < self.duration) else {
            throw ValidationError("--failure-at must fall between --warmup and --duration")
        }
    }

    var alignmentMode: AlignmentMode {
        AlignmentMode(name: self.alignment, timeout: .milliseconds(self.alignmentTimeout)) ?? .aligned
    }

    var snapshotStrategy: SnapshotStrategy {
        .named(self.strategy, materializationInterval: .milliseconds(Int64(self.materializationInterval * 1000)))
    }

    /// The RocksDB options of each backend (and of the bare loop's databases).
    var rocksOptions: RocksOptions {
        var rocks = RocksOptions()
        rocks.writeBufferBytes = self.writeBufferMib << 20
        rocks.maxWriteBufferNumber = self.writeBuffers
        rocks.statistics = self.rocksdbStatistics
        rocks.blockCacheBytes = self.blockCacheMib << 20
        rocks.memtableBloomRatio = self.memtableBloom
        rocks.maxBackgroundFlushes = self.flushThreads > 0 ? self.flushThreads : nil
        return rocks
    }

    /// The arguments that reproduce these options (for the child process of a kill run).
    var arguments: [String] {
        var list = [
            "--strategy", self.strategy.rawValue, "--materialization-interval", "\(self.materializationInterval)",
            "--min-blob-size", "\(self.minBlobSize)", "--alignment", self.alignment, "--alignment-timeout", "\(self.alignmentTimeout)",
            "--sink-throttle", "\(self.sinkThrottle)", "--keys", "\(self.keys)", "--payload", "\(self.payload)",
            "--parallelism", "\(self.parallelism)", "--duration", "\(self.duration)", "--warmup", "\(self.warmup)",
            "--interval", "\(self.interval)", "--failure", self.failure, "--failure-at", "\(self.failureAt)", "--seed", "\(self.seed)",
            "--write-buffer-mib", "\(self.writeBufferMib)", "--write-buffers", "\(self.writeBuffers)",
            "--block-cache-mib", "\(self.blockCacheMib)", "--memtable-bloom", "\(self.memtableBloom)",
            "--flush-threads", "\(self.flushThreads)",
            "--channel-capacity", "\(self.channelCapacity)", "--debloat-target", "\(self.debloatTarget)",
        ]
        list.append(self.kvSeparation ? "--kv-separation" : "--no-kv-separation")
        list.append(self.rocksdbStatistics ? "--rocksdb-statistics" : "--no-rocksdb-statistics")
        list.append(self.localRecovery ? "--local-recovery" : "--no-local-recovery")
        if let root = self.checkpointDirectory { list += ["--checkpoint-directory", root] }
        return list
    }
}

