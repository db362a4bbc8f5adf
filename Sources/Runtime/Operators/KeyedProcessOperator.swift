import Checkpointing
import Foundation
import KeyedState
import StateCore

/// Runs a keyed function in its task: owns the subtask's checkpointed backend (restored at open), sets the
/// current key per record, and snapshots the backend at each checkpoint.
final class KeyedProcessOperator<F: KeyedProcessFunction>: TaskOperator {
    let name: String
    private var function: F
    private let backend: CheckpointedBackend<F.Key>?
    private let plain: KeyedStateBackend<F.Key>?
    private let context: KeyedContext<F.Key>
    private let key: @Sendable (F.Input) -> F.Key
    private let keySerializer: any StateSerializer<F.Key>
    private let range: KeyGroupRange
    private let maxParallelism: Int
    private var keyWriter = ByteWriter(capacity: 32)
    /// Records since the backend's materialization was last polled.
    private var sincePoll = 0

    init(
        task: StreamTask, name: String, function: F, key: @escaping @Sendable (F.Input) -> F.Key,
        keySerializer: any StateSerializer<F.Key>
    ) throws {
        let configuration = task.execution.configuration
        self.name = name
        self.function = function
        self.key = key
        self.keySerializer = keySerializer
        let maxParallelism = task.vertex.maxParallelism ?? configuration.maxParallelism
        self.maxParallelism = maxParallelism
        self.range = KeyGroupRange.forSubtask(index: task.subtask, parallelism: task.parallelism, maxParallelism: maxParallelism)
        let directory = "\(configuration.workingDirectory)/\(task.vertex.name.fileToken)-\(task.subtask)"
        let state: KeyedStateBackend<F.Key>
        if let storage = task.execution.storage, let checkpointing = configuration.checkpointing {
            var restore = RestoreSource.empty
            if let restored = task.execution.restored {
                restore = restored.kind == .savepoint ? task.execution.restoreSource : .checkpoint(restored.checkpointID)
            }
            if !configuration.localRecovery { try? FileManager.default.removeItem(atPath: directory + "/local") }
            // With local recovery, a failed attempt's database is rolled back in place, except with the incremental
            // strategy: its every checkpoint has a local copy, and re-linking that copy (no fetch, no replay) is
            // faster than rewriting the keys changed since, and spares processing the rollback's bookkeeping.
            let rollback = configuration.localRecovery && checkpointing.strategy.kind != .incremental
            let backend = try CheckpointedBackend<F.Key>.open(
                backendID: "\(task.vertex.name)/\(task.subtask)", storage: storage, workingDirectory: directory,
                engine: configuration.engine.backendEngine(for: F.Key.self), keySerializer: keySerializer,
                keyGroupRange: self.range, maxParallelism: maxParallelism,
                strategy: checkpointing.strategy, restore: restore, localRollback: rollback)
            self.backend = backend
            self.plain = nil
            state = backend.state
            if let report = backend.restoreReport { task.execution.restored(report) }
        } else {
            switch configuration.engine {
            case .heap:
                state = .heap(keySerializer: keySerializer, keyGroupRange: self.range, maxParallelism: maxParallelism)
            case .rocksDB(let options):
                state = try .rocksDB(
                    directory: directory + "/db", keySerializer: keySerializer, keyGroupRange: self.range,
                    maxParallelism: maxParallelism, options: options)
            }
            self.backend = nil
            self.plain = state
        }
        self.context = KeyedContext(
            state: state, timers: try TimerService(state: state), job: task.execution.jobName, vertex: task.vertex.name,
            subtask: task.subtask, parallelism: task.parallelism, attempt: task.attempt)
        try self.function.open(self.context)
    }

    /// Where `onTimer` output goes (the same downstream as `process`).
    var out: Collector<F.Output>?

    /// Processes one record (`restored`: from channel state; records of key groups this subtask does not own are
    /// another subtask's after rescaling and are skipped).
    @inline(__always)
    func process(_ value: F.Input, restored: Bool, out: Collector<F.Output>) throws {
        let key = self.key(value)
        if restored {
            self.keyWriter.removeAll()
            self.keySerializer.serialize(key, into: &self.keyWriter)
            guard self.range.contains(KeyGroup.of(serializedKey: self.keyWriter.bytes, maxParallelism: self.maxParallelism)) else { return }
        }
        try self.context.state.setCurrentKey(key)
        try self.function.process(value, context: self.context, out: out)
        self.sincePoll += 1
        if self.sincePoll >= Limits.materializationPollRecords {
            // Between records: a materialization never starts inside a record's state accesses.
            self.sincePoll = 0
            self.backend?.pollMaterialization()
        }
    }

    func snapshot(checkpointID: Int64) throws -> (state: [String: String], backend: PendingBackendSnapshot?) {
        ([:], try self.backend?.startSnapshot(checkpointID: checkpointID))
    }

    func complete(checkpointID: Int64) throws {
        self.backend?.notifyCheckpointComplete(checkpointID)
        // Materialization is due on time, also when too few changes flow for the changelog's own poll.
        self.backend?.pollMaterialization()
    }

    func abort(checkpointID: Int64) {
        self.backend?.notifyCheckpointAborted(checkpointID)
    }

    func advanceWatermark(to watermark: Int64) throws {
        self.context.currentWatermark = watermark
        try self.fire(.eventTime, upTo: watermark)
    }

    var nextProcessingTimer: Int64? { self.context.timers.next(.processingTime) }

    func onProcessingTime(_ now: Int64) throws {
        try self.fire(.processingTime, upTo: now)
    }

    private func fire(_ domain: TimeDomain, upTo time: Int64) throws {
        guard let out = self.out else { return }
        try self.context.timers.fire(domain, upTo: time) { timestamp in
            try self.function.onTimer(timestamp, domain: domain, context: self.context, out: out)
        }
    }

    func close() {
        try? self.backend?.close()
        try? self.plain?.close()
    }

    func park() {
        try? self.backend?.park()
        try? self.plain?.close()
    }
}
