import KeyedState
import StateCore
import Synchronization

/// A task's output into one downstream vertex: serializes records into one pending buffer per channel, picks the
/// channel by the edge's partitioning, and sends a buffer when it reaches the size its gate asks for (the buffer
/// size, or less under buffer debloating; read again after each buffer sent), waiting while the channel is full
/// (backpressure); also when the task flushes, and before every barrier, watermark and end of input. The task
/// flushes partly filled buffers every `JobConfiguration.bufferTimeout` (5 ms) and whenever it is idle.
protocol OutputPort: AnyObject {
    /// Sends every partly filled buffer (waits for room).
    func flush()
    /// Whether every channel takes a buffer without waiting; if not, `waiter` is signalled when the full one has
    /// drained (see `InputGate.hasRoom(channel:waiter:)`).
    func hasRoom(waiter: InputGate) -> Bool
    /// Sends pending buffers and then `element` to every channel. Before a barrier nothing waits for room (barriers
    /// must not wait for backpressure); before a watermark or the end of input the pending buffers wait as usual.
    func broadcastEvent(_ element: ChannelElement)
}

final class RecordWriter<T>: OutputPort {
    private unowned let task: StreamTask
    private let targets: [(gate: InputGate, channel: Int)]
    private let partitioning: Partitioning
    private let serializer: any StateSerializer<T>
    private let keyBytes: (@Sendable (T, inout ByteWriter) -> Void)?
    private let bufferSize: Int
    /// Per channel, the size at which its pending buffer is sent: its gate's `bufferSize` when the last buffer went.
    private var sendAt: [Int]
    private let maxParallelism: Int
    private var pending: [ByteWriter]
    private var keyWriter = ByteWriter(capacity: 32)
    private var nextChannel = 0

    init(
        task: StreamTask, targets: [(gate: InputGate, channel: Int)], partitioning: Partitioning,
        serializer: any StateSerializer<T>, keyBytes: (@Sendable (T, inout ByteWriter) -> Void)?, maxParallelism: Int
    ) {
        self.task = task
        self.targets = targets
        self.partitioning = partitioning
        self.serializer = serializer
        self.keyBytes = keyBytes
        self.bufferSize = task.execution.configuration.bufferSize
        self.maxParallelism = maxParallelism
        self.pending = Array(repeating: ByteWriter(capacity: self.bufferSize + 256), count: targets.count)
        self.sendAt = targets.map { $0.gate.bufferSize.load(ordering: .relaxed) }
    }

    /// Serializes `value` into the buffer of its channel.
    func emit(_ value: T) throws {
        switch self.partitioning {
        case .broadcast:
            for index in self.targets.indices { self.append(value, to: index) }
        case .forward:
            self.append(value, to: self.task.subtask % self.targets.count)
        case .rebalance:
            self.nextChannel = (self.nextChannel + 1) % self.targets.count
            self.append(value, to: self.nextChannel)
        case .keyGroupHash:
            self.keyWriter.removeAll()
            self.keyBytes?(value, &self.keyWriter)
            let group = KeyGroup.of(serializedKey: self.keyWriter.bytes, maxParallelism: self.maxParallelism)
            self.append(value, to: group * self.targets.count / self.maxParallelism)
        }
    }

    @inline(__always)
    private func append(_ value: T, to index: Int) {
        self.serializer.serialize(value, into: &self.pending[index])
        if self.pending[index].count >= self.sendAt[index] { self.send(index) }
    }

    /// Sends channel `index`'s pending buffer, waiting for room. Nothing else runs while it waits: a record's
    /// whole fan-out is in front of any barrier the task sends after it (the task waits for room, and runs its
    /// mail, only between records).
    private func send(_ index: Int) {
        let target = self.targets[index]
        let (queued, blocked) = target.gate.push(.buffer(self.pending[index].bytes), channel: target.channel)
        self.task.backPressured += blocked
        // Not queued: the job is being cancelled; the buffer is dropped with the attempt.
        self.pending[index].removeAll()
        if queued { self.sendAt[index] = target.gate.bufferSize.load(ordering: .relaxed) }
    }

    func hasRoom(waiter: InputGate) -> Bool {
        self.targets.allSatisfy { $0.gate.hasRoom(channel: $0.channel, waiter: waiter) }
    }

    func flush() {
        for index in self.pending.indices where self.pending[index].count > 0 { self.send(index) }
    }

    func broadcastEvent(_ element: ChannelElement) {
        let isBarrier: Bool
        if case .barrier = element { isBarrier = true } else { isBarrier = false }
        for (index, target) in self.targets.enumerated() {
            if self.pending[index].count > 0 {
                if isBarrier {
                    // A barrier never waits for room: its pending buffer goes over the capacity (one per checkpoint).
                    _ = target.gate.push(.buffer(self.pending[index].bytes), channel: target.channel, force: true)
                    self.pending[index].removeAll()
                } else {
                    self.send(index)
                }
            }
            _ = target.gate.push(element, channel: target.channel)
        }
    }
}
