import Checkpointing
import Foundation
import StateCore
import Synchronization

/// One subtask of a vertex, on its own thread: records, barriers, watermarks, timers and checkpoint mail are
/// handled in one order (the mailbox), so operator state is touched by this thread only.
///
/// Its `InputGate` holds one lock and condition shared by the input channels' queues and the mailbox, so the thread
/// sleeps in one place. Mail (source triggers, checkpoint completion, aborts) is taken before records. Sources
/// emit in batches of `Limits.sourceBatchRecords` (256) and check mail between batches. Each loop turn also fires
/// due processing-time timers, feeds the `BarrierHandler` a clock tick while aligning, and ticks the
/// `BufferDebloater`; event-time timers fire when the task's watermark (the minimum over its input channels)
/// passes them. After a rescale every old subtask's channel state goes through the input filter
/// (`loadChannelState`).
final class StreamTask: @unchecked Sendable {
    let vertex: VertexSpec
    let subtask: Int
    unowned let execution: JobAttempt
    let gate: InputGate
    var outputs: [any OutputPort] = []
    var operators: [any TaskOperator] = []
    /// Processes one buffer of serialized records (`restored`: from channel state, filter to owned key groups).
    var inputHandler: (([UInt8], Bool) throws -> Void)?
    /// Sources: emits up to n records.
    var sourceDriver: ((Int) throws -> SourceStatus)?

    /// Records the source emitted (task thread only).
    var sourceRecords = 0
    /// Records taken in from sources or channels, readable from any thread.
    let recordsIn = Atomic<Int>(0)
    /// Time spent waiting for room in a full output channel (task thread only).
    var backPressured = Duration.zero
    /// Time spent waiting for room in a full output channel, in microseconds, readable from any thread.
    let backPressuredMicros = Atomic<Int>(0)
    /// When the first record was processed (milliseconds since 1970; 0: not yet).
    let firstRecordWall = Atomic<Int>(0)

    private var handler: BarrierHandler
    private var blocked: Set<Int> = []
    private var ended: Set<Int> = []
    private var recording: [ChannelStateFile.Buffer] = []
    private var barriers: [Int64: CheckpointBarrier] = [:]
    private var firstBarrierAt: [Int64: Duration] = [:]
    private var snapshots: [Int64: PendingSnapshot] = [:]
    private var channelWatermarks: [Int64]
    private var currentWatermark = Int64.min
    private var sourceFinished = false
    /// The source's outputs were full before or during its last batch (it then emits one record per call).
    private var underPressure = false
    private var finalCheckpoint: Int64?
    /// The checkpoint whose completion stops this task (`CheckpointBarrier.stopsJob`); a source emits nothing
    /// once it took its barrier.
    private var stopCheckpoint: Int64?
    private var exitRequested = false
    private var lastFlush = Duration.zero
    private var restoredBuffers: [ChannelStateFile.Buffer] = []
    /// The buffers the barrier being handled overtook.
    private var overtaken: [[UInt8]] = []
    private var metrics: TaskMetrics
    /// Sizes the buffers producers send to this task (nil: debloating off, or a source).
    private var debloater: BufferDebloater?

    private struct PendingSnapshot {
        var state: [String: String]
        var backends: [PendingBackendSnapshot]
        var synchronous: Duration
        var alignment: Duration
        var startDelay: Duration
        var unaligned: Bool
    }

    init(vertex: VertexSpec, subtask: Int, execution: JobAttempt) {
        self.vertex = vertex
        self.subtask = subtask
        self.execution = execution
        let channels = vertex.inputChannelCount
        let configuration = execution.configuration
        self.gate = InputGate(channels: channels, capacity: configuration.channelCapacity, bufferSize: configuration.bufferSize)
        self.debloater = configuration.bufferDebloating.flatMap { settings in
            channels == 0 ? nil : BufferDebloater(
                configuration: settings, channels: channels, capacity: configuration.channelCapacity,
                maximumBufferSize: configuration.bufferSize, now: RuntimeClock.now)
        }
        self.handler = BarrierHandler(
            inputs: channels, mode: execution.configuration.checkpointing?.alignment ?? .aligned)
        self.channelWatermarks = Array(repeating: .min, count: channels)
        self.metrics = TaskMetrics(job: execution.jobName, vertex: vertex.name, subtask: subtask)
    }

    var parallelism: Int { self.vertex.parallelism }
    var attempt: Int { self.execution.attempt }
    /// `vertex/subtask`, for messages.
    var label: String { "\(self.vertex.name)/\(self.subtask)" }

    /// This task's state in the checkpoint being restored.
    var restoredTaskState: TaskStateHandle? {
        self.execution.restored?.task(self.vertex.name, subtask: self.subtask)
    }

    /// The restored state of operator `name` (keys without the `name.` prefix).
    func restoredOperatorState(_ name: String) -> [String: String] {
        guard let state = self.restoredTaskState?.operatorState else { return [:] }
        var result: [String: String] = [:]
        for (key, value) in state where key.hasPrefix(name + ".") { result[String(key.dropFirst(name.count + 1))] = value }
        return result
    }

    /// The restored states of operator `name` of this subtask — after rescaling, of every old subtask whose index
    /// maps here (`old % parallelism == subtask`).
    func restoredOperatorStates(_ name: String) -> [[String: String]] {
        guard let tasks = self.execution.restored?.tasks else { return [] }
        return tasks.filter { $0.vertex == self.vertex.name && ($0.parallelism == self.parallelism ? $0.subtask == self.subtask : $0.subtask % self.parallelism == self.subtask) }
            .map { handle in
                var result: [String: String] = [:]
                for (key, value) in handle.operatorState where key.hasPrefix(name + ".") {
                    result[String(key.dropFirst(name.count + 1))] = value
                }
                return result
            }
    }

    /// The gates and channel indices of `downstream`'s subtasks that this task feeds.
    func targets(of downstream: VertexSpec) -> [(gate: InputGate, channel: Int)] {
        var offset = 0
        for edge in downstream.inputs {
            if edge.source === self.vertex { break }
            offset += edge.source.parallelism
        }
        return self.execution.tasks[downstream.index].map { ($0.gate, offset + self.subtask) }
    }

    // MARK: Thread body

    /// Builds the operator chain (restoring state), then runs until the input ends, the job is cancelled, or
    /// something fails.
    func run() {
        var ended = false
        do {
            guard let build = self.vertex.build else { return }
            try build(self)
            try self.loadChannelState()
            self.execution.taskReady()
            if self.sourceDriver != nil { try self.runSource() } else { try self.runInput() }
            ended = !self.gate.isCancelled
        } catch {
            if !self.gate.isCancelled { self.execution.taskFailed(self, RuntimeError.wrap(error, task: self.label)) }
        }
        // A failed or cancelled attempt parks its state for the next one (closed at the job's end if unused).
        for op in self.operators { if ended { op.close() } else { op.park() } }
        self.releaseChain()
        self.execution.taskExited(self)
    }

    /// Lets go of the operator chain once the thread is done with it. The chain's closures (`inputHandler`,
    /// `sourceDriver`) capture this task, so the task, its operators, their backends and their changelog buffers
    /// would otherwise keep one another alive for the life of the process: about 7 MiB per restart of the
    /// standard workload's job.
    private func releaseChain() {
        self.inputHandler = nil
        self.sourceDriver = nil
        self.operators = []
        self.outputs = []
    }

    private func loadChannelState() throws {
        guard let restored = self.execution.restored, let tasks = restored.tasks else { return }
        // Rescaled or not, every old subtask's buffers of this vertex go through the input filter.
        let old = tasks.filter { $0.vertex == self.vertex.name }
        let rescaled = old.first.map { $0.parallelism != self.parallelism } ?? false
        for handle in old where rescaled || handle.subtask == self.subtask {
            guard let file = handle.channelState else { continue }
            let path = try self.execution.storage!.resolve(file.path, checkpoint: restored.checkpointID)
            let bytes = try self.execution.storage!.fileSystem.read(path)
            let decoded = try ChannelStateFile.decode(bytes, path: path)
            self.restoredBuffers += decoded.buffers
        }
    }

    private func noteFirstRecord() {
        if self.firstRecordWall.load(ordering: .relaxed) == 0 {
            self.firstRecordWall.store(Int(SystemStateClock().nowMilliseconds()), ordering: .relaxed)
        }
    }

    private func runSource() throws {
        guard let driver = self.sourceDriver else { return }
        let timeout = self.execution.configuration.bufferTimeout
        while !self.exitRequested {
            if self.gate.isCancelled { return }
            if self.gate.hasMail { try self.runMail(self.gate.takeMail()) }
            if self.exitRequested { return }
            if self.sourceFinished || self.stopCheckpoint != nil {
                if case .mail(let mail) = self.gate.next(blocked: [], deadline: RuntimeClock.now + .seconds(1), overtake: { _ in false }) {
                    try self.runMail(mail)
                }
                continue
            }
            // Checkpoints are taken only here, between records: a record and everything the chain emits for it
            // are in front of the barrier or behind it, never split. So the source waits for room in its outputs
            // here (running its mail meanwhile) and, under backpressure, emits one record per call.
            let pressured = try self.awaitOutputRoom()
            // Mail run while waiting may have been the stop checkpoint's trigger: nothing is emitted after it.
            if self.exitRequested || self.gate.isCancelled || self.stopCheckpoint != nil { continue }
            let before = self.sourceRecords
            let blockedBefore = self.backPressured
            let status = try driver(pressured ? 1 : Limits.sourceBatchRecords)
            self.underPressure = pressured || self.backPressured > blockedBefore
            if self.sourceRecords > before {
                self.noteFirstRecord()
                self.recordsIn.add(self.sourceRecords - before, ordering: .relaxed)
                try self.injectFailure()
            }
            let now = RuntimeClock.now
            switch status {
            case .more:
                if now - self.lastFlush >= timeout { self.flushOutputs(now) }
            case .idle(let until):
                self.flushOutputs(now)
                if case .mail(let mail) = self.gate.next(blocked: [], deadline: until, overtake: { _ in false }) {
                    try self.runMail(mail)
                }
            case .finished:
                self.sourceFinished = true
                for output in self.outputs { output.broadcastEvent(.watermark(.max)) }
                for op in self.operators { try op.finish() }
                if self.execution.coordinator == nil {
                    for output in self.outputs { output.broadcastEvent(.endOfInput) }
                    return
                }
                self.execution.coordinator?.sourceFinished()
            }
        }
    }

    /// Waits until every output takes a buffer without waiting, running mail (checkpoint triggers, completions)
    /// as it arrives. Returns whether the outputs were under backpressure (now or during the last batch).
    private func awaitOutputRoom() throws -> Bool {
        var pressured = self.underPressure
        while !self.gate.isCancelled && !self.exitRequested {
            if self.gate.hasMail {
                try self.runMail(self.gate.takeMail())
                continue
            }
            if self.outputs.allSatisfy({ $0.hasRoom(waiter: self.gate) }) { return pressured }
            pressured = true
            let start = RuntimeClock.now
            self.gate.waitForRoomOrMail(deadline: start + .milliseconds(100))
            self.backPressured += RuntimeClock.now - start
        }
        return pressured
    }

    private func runInput() throws {
        guard let input = self.inputHandler else { return }
        for buffer in self.restoredBuffers { try input(buffer.bytes, true) }
        self.restoredBuffers = []
        let timeout = self.execution.configuration.bufferTimeout
        while !self.exitRequested {
            var now = RuntimeClock.now
            if self.handler.isAligning { try self.perform(self.handler.tick(now: now)) }
            if now - self.lastFlush >= timeout { self.flushOutputs(now) }
            try self.fireProcessingTimers()
            if let size = self.debloater?.tick(now: now) { self.gate.bufferSize.store(size, ordering: .relaxed) }
            let waitStart = RuntimeClock.now
            let next = self.gate.next(blocked: self.blocked, deadline: waitStart + timeout) { barrier in
                !barrier.isFinal
                    && self.handler.mayOvertake(checkpointID: barrier.checkpointID, triggeredAt: barrier.triggeredAt, now: RuntimeClock.now)
            }
            now = RuntimeClock.now
            self.debloater?.idle(now - waitStart)
            switch next {
            case .cancelled:
                return
            case .idle:
                self.flushOutputs(now)
            case .mail(let mail):
                try self.runMail(mail)
            case .element(let channel, let element, let overtaken):
                switch element {
                case .buffer(let bytes):
                    self.debloater?.consumed(bytes.count)
                    let (record, actions) = self.handler.buffer(channel: channel)
                    if record { self.recording.append(ChannelStateFile.Buffer(channel: channel, bytes: bytes)) }
                    try self.perform(actions)
                    self.noteFirstRecord()
                    try input(bytes, false)
                    try self.injectFailure()
                case .barrier(let barrier):
                    self.barriers[barrier.checkpointID] = barrier
                    if barrier.stopsJob { self.stopCheckpoint = barrier.checkpointID }
                    if self.firstBarrierAt[barrier.checkpointID] == nil { self.firstBarrierAt[barrier.checkpointID] = now }
                    self.overtaken = overtaken
                    try self.perform(self.handler.barrier(
                        checkpointID: barrier.checkpointID, channel: channel, overtaken: overtaken.count,
                        triggeredAt: barrier.triggeredAt, now: now, forceAligned: barrier.isFinal))
                    self.overtaken = []
                case .watermark(let watermark):
                    self.channelWatermarks[channel] = max(self.channelWatermarks[channel], watermark)
                    try self.advanceWatermark()
                case .endOfInput:
                    self.ended.insert(channel)
                    self.channelWatermarks[channel] = .max
                    try self.perform(self.handler.endOfInput(channel: channel))
                    if self.ended.count == self.gate.channelCount {
                        try self.advanceWatermark()
                        for op in self.operators { try op.finish() }
                        self.flushOutputs(now)
                        for output in self.outputs { output.broadcastEvent(.endOfInput) }
                        return
                    }
                }
            }
        }
    }

    private func injectFailure() throws {
        guard let inject = self.execution.configuration.failureInjector else { return }
        let records = self.recordsIn.load(ordering: .relaxed)
        if inject(self.vertex.name, self.subtask, self.attempt, records) {
            throw InjectedFailure(message: "injected failure in attempt \(self.attempt) after \(records) records")
        }
    }

    private func fireProcessingTimers() throws {
        var wall: Int64?
        for op in self.operators {
            guard let next = op.nextProcessingTimer else { continue }
            if wall == nil { wall = SystemStateClock().nowMilliseconds() }
            if next <= wall! { try op.onProcessingTime(wall!) }
        }
    }

    /// A chained watermark assigner advanced event time: tell the operators and every output.
    func emitWatermark(_ watermark: Int64) throws {
        guard watermark > self.currentWatermark else { return }
        self.currentWatermark = watermark
        for op in self.operators { try op.advanceWatermark(to: watermark) }
        for output in self.outputs { output.broadcastEvent(.watermark(watermark)) }
    }

    private func advanceWatermark() throws {
        let watermark = self.channelWatermarks.min() ?? .min
        guard watermark > self.currentWatermark else { return }
        self.currentWatermark = watermark
        for op in self.operators { try op.advanceWatermark(to: watermark) }
        for output in self.outputs { output.broadcastEvent(.watermark(watermark)) }
    }

    private func flushOutputs(_ now: Duration) {
        self.lastFlush = now
        for output in self.outputs { output.flush() }
        let micros = Int(self.backPressured.nanoseconds / 1000)
        if micros != self.backPressuredMicros.load(ordering: .relaxed) { self.backPressuredMicros.store(micros, ordering: .relaxed) }
        self.metrics.update(records: self.recordsIn.load(ordering: .relaxed), backPressuredMicros: micros)
    }

    // MARK: Mail and barrier actions

    private func runMail(_ mail: [InputGate.Mail]) throws {
        for item in mail {
            switch item {
            case .trigger(let barrier, let final):
                // After the final checkpoint completed the source has ended its output: no barrier may follow.
                guard !self.exitRequested else { continue }
                let id = barrier.checkpointID
                self.barriers[id] = barrier
                self.firstBarrierAt[id] = RuntimeClock.now
                if barrier.stopsJob { self.stopCheckpoint = id } else if final { self.finalCheckpoint = id }
                try self.perform([.snapshot(checkpointID: id, unaligned: false), .forward(checkpointID: id), .finish(checkpointID: id)])
            case .complete(let id):
                for op in self.operators { try op.complete(checkpointID: id) }
                if let stop = self.stopCheckpoint, id >= stop {
                    self.exitRequested = true
                    continue
                }
                if let final = self.finalCheckpoint, id >= final {
                    for output in self.outputs { output.broadcastEvent(.endOfInput) }
                    self.exitRequested = true
                }
            case .abort(let id):
                try self.perform(self.handler.abort(checkpointID: id))
                self.snapshots[id] = nil
                for op in self.operators { op.abort(checkpointID: id) }
            case .snapshotFailed(let error):
                throw error
            }
        }
    }

    private func perform(_ actions: [BarrierHandler.Action]) throws {
        for action in actions {
            switch action {
            case .block(let channel):
                self.blocked.insert(channel)
            case .unblockAll:
                self.blocked.removeAll()
            case .snapshot(let id, let unaligned):
                try self.snapshot(id, unaligned: unaligned)
            case .forward(let id):
                guard let barrier = self.barriers[id] else { continue }
                for output in self.outputs { output.broadcastEvent(.barrier(barrier)) }
            case .persistOvertaken(let channel):
                for bytes in self.overtaken { self.recording.append(ChannelStateFile.Buffer(channel: channel, bytes: bytes)) }
            case .finish(let id):
                try self.acknowledge(id)
            case .abort(let id):
                self.snapshots[id] = nil
                self.recording.removeAll()
                self.barriers[id] = nil
                self.firstBarrierAt[id] = nil
            }
        }
    }

    private func snapshot(_ id: Int64, unaligned: Bool) throws {
        let start = RuntimeClock.now
        var state: [String: String] = [:]
        var backends: [PendingBackendSnapshot] = []
        for op in self.operators {
            let (opState, backend) = try op.snapshot(checkpointID: id)
            for (key, value) in opState { state["\(op.name).\(key)"] = value }
            if let backend { backends.append(backend) }
        }
        let end = RuntimeClock.now
        self.snapshots[id] = PendingSnapshot(
            state: state, backends: backends, synchronous: end - start,
            alignment: self.firstBarrierAt[id].map { start - $0 } ?? .zero,
            startDelay: self.firstBarrierAt[id].flatMap { first in self.barriers[id].map { first - $0.triggeredAt } } ?? .zero,
            unaligned: unaligned)
        if unaligned { self.recording.removeAll() }
    }

    private func acknowledge(_ id: Int64) throws {
        guard let snapshot = self.snapshots.removeValue(forKey: id) else { return }
        let start = RuntimeClock.now
        var handle = TaskStateHandle(
            vertex: self.vertex.name, subtask: self.subtask, parallelism: self.parallelism,
            operatorState: snapshot.state)
        if !self.recording.isEmpty, let storage = self.execution.storage {
            let file = ChannelStateFile(vertex: self.vertex.name, subtask: self.subtask, checkpointID: id, buffers: self.recording)
            let (relative, absolute) = try storage.newCheckpointFile(
                id, name: "channels-\(self.vertex.name.fileToken)-\(self.subtask).wchs")
            let bytes = file.encoded()
            try storage.fileSystem.write(bytes, to: absolute, sync: true)
            handle.channelState = StoredFile(path: relative, size: bytes.count, crc32c: CRC32C.checksum(bytes))
            handle.inflightBytes = file.dataBytes
        }
        self.recording.removeAll()
        self.barriers[id] = nil
        self.firstBarrierAt[id] = nil
        // The backends' asynchronous parts (uploads) may still run: the acknowledgement goes when the last has
        // finished, from the thread that finished it, while this task goes on. A failed one fails the task, as a
        // failed synchronous part does.
        let coordinator = self.execution.coordinator
        let gate = self.gate
        let task = handle
        Self.whenFinished(snapshot.backends[...], handles: []) { result in
            switch result {
            case .success(let backends):
                coordinator?.acknowledge(
                    TaskAcknowledgement(
                        checkpointID: id, task: task, backends: backends, synchronous: snapshot.synchronous,
                        asynchronous: RuntimeClock.now - start, alignment: snapshot.alignment,
                        startDelay: snapshot.startDelay, unaligned: snapshot.unaligned))
            case .failure(let error):
                gate.post(.snapshotFailed(error))
            }
        }
    }

    /// Calls `body` with every handle of `pending` (after `handles`) once all have finished, or with the first
    /// failure.
    private static func whenFinished(
        _ pending: ArraySlice<PendingBackendSnapshot>, handles: [BackendStateHandle],
        _ body: @escaping @Sendable (Result<[BackendStateHandle], CheckpointError>) -> Void
    ) {
        guard let first = pending.first else { return body(.success(handles)) }
        first.whenFinished { result in
            switch result {
            case .success(let handle): Self.whenFinished(pending.dropFirst(), handles: handles + [handle], body)
            case .failure(let error): body(.failure(error))
            }
        }
    }
}

/// What a task reports when its part of a checkpoint is durable.
struct TaskAcknowledgement: Sendable {
    var checkpointID: Int64
    var task: TaskStateHandle
    var backends: [BackendStateHandle]
    var synchronous: Duration
    var asynchronous: Duration
    var alignment: Duration
    /// From the trigger to the first barrier this task saw (for a source: to running the trigger mail).
    var startDelay: Duration
    var unaligned: Bool
}
