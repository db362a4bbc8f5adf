import Checkpointing
import DequeModule
import Foundation
import StateCore
import Synchronization

/// A task's inbox: one lock and condition shared by its input channels and its mailbox, so the task thread
/// sleeps in one place and wakes for whichever comes first. Producers push into a channel's queue under the same
/// lock and wait on it while the queue is full (backpressure).
///
/// A channel is a queue of buffers of concatenated serialized records (serializers are self-delimiting), bounded
/// at `JobConfiguration.channelCapacity` buffers (default 4). A producer blocks while it is full (the time counts
/// as backpressure, `weir_backpressured_microseconds`) and runs its own mail meanwhile, so a source still takes its
/// checkpoint. Once blocked, it resumes when the channel has drained to half its capacity (`resumeAt`), so it sends
/// several buffers per wake-up. Barriers, watermarks and end of input never wait for room. In these shared-memory
/// channels the producer's output queue and the consumer's input queue are one queue.
final class InputGate: Sendable {
    /// Something the task thread must run in order with its records.
    enum Mail: Sendable {
        /// Sources: start checkpoint `barrier.checkpointID` (`final`: every source is exhausted; after it
        /// completes the sources end their output).
        case trigger(CheckpointBarrier, final: Bool)
        /// The checkpoint completed: commit.
        case complete(Int64)
        /// The checkpoint was given up.
        case abort(Int64)
        /// The asynchronous part of this task's snapshot failed: the task fails with the error.
        case snapshotFailed(CheckpointError)
    }

    /// What `next` found.
    enum Next: Sendable {
        /// Mail to run first.
        case mail([Mail])
        /// An element from `channel`; a barrier taken from the middle of the queue comes with the buffers it
        /// overtook (they stay queued behind it).
        case element(channel: Int, ChannelElement, overtaken: [[UInt8]])
        /// Nothing arrived before the deadline.
        case idle
        /// The task is cancelled.
        case cancelled
    }

    /// Everything producers, the task and the coordinator share, behind the gate's monitor.
    private struct State: Sendable {
        var queues: [Deque<ChannelElement>]
        var bufferCounts: [Int]
        var mail: [Mail] = []
        var cancelled = false
        /// Producers sleeping in `push` until a full channel drains.
        var waitingProducers = 0
        /// Per channel, the producers' gates to signal once it has drained to `resumeAt`.
        var roomWaiters: [[InputGate]]
        /// A channel this gate's task feeds has room again (reset by `waitForRoomOrMail`).
        var roomSignalled = false
        var nextChannel = 0
    }

    private let monitor: Monitor<State>
    /// Buffers a channel holds before its producer blocks.
    let capacity: Int
    /// Buffers a full channel drains to before its blocked producer may send again.
    let resumeAt: Int
    /// The size at which producers send a buffer to this gate: the configured buffer size, or less while buffer
    /// debloating shrinks it (written by the consuming task, read by producers after each buffer they send).
    let bufferSize: Atomic<Int>
    /// The number of input channels.
    let channelCount: Int

    init(channels: Int, capacity: Int, bufferSize: Int) {
        self.monitor = Monitor(State(
            queues: Array(repeating: Deque(minimumCapacity: capacity + 2), count: channels),
            bufferCounts: Array(repeating: 0, count: channels), roomWaiters: Array(repeating: [], count: channels)))
        self.channelCount = channels
        self.capacity = capacity
        self.bufferSize = Atomic(bufferSize)
        self.resumeAt = capacity / 2
    }

    /// Queues mail for the task.
    func post(_ mail: Mail) { self.monitor.withLock { $0.mail.append(mail) } }

    /// Whether mail is waiting or the task is cancelled (sources poll this between records).
    var hasMail: Bool { self.monitor.withLock(signalling: false) { !$0.mail.isEmpty || $0.cancelled } }

    /// Takes the waiting mail.
    func takeMail() -> [Mail] {
        self.monitor.withLock(signalling: false) { state in
            defer { state.mail.removeAll() }
            return state.mail
        }
    }

    /// Stops the task: every wait returns (producers waiting for room in its channels too).
    func cancel() {
        let waiters = self.monitor.withLock { state in
            state.cancelled = true
            defer { state.roomWaiters = state.roomWaiters.map { _ in [] } }
            return Array(state.roomWaiters.joined())
        }
        for waiter in waiters { waiter.signalRoom() }
    }

    var isCancelled: Bool { self.monitor.withLock(signalling: false) { $0.cancelled } }

    /// Appends an element to `channel`. A buffer waits while the channel is full (until it has drained to
    /// `resumeAt`); barriers, watermarks and `force`d buffers never wait. Nothing else runs on the producer's
    /// thread while it waits: its mail waits for the record boundary (see `hasRoom(channel:waiter:)`).
    /// - Returns: whether the element was queued (false: the gate was cancelled), and how long the producer was
    ///   blocked.
    func push(_ element: ChannelElement, channel: Int, force: Bool = false) -> (queued: Bool, blocked: Duration) {
        let waits = element.isBuffer && !force
        var started: ContinuousClock.Instant?
        let queued = self.monitor.waiting { state -> Monitor<State>.Step<Bool> in
            if started != nil { state.waitingProducers -= 1 }
            // A full channel takes buffers again once it has drained to `resumeAt`: the producer then sends
            // several before it blocks again, instead of waking for every buffer the consumer takes.
            if waits && !state.cancelled
                && (started == nil ? state.bufferCounts[channel] >= self.capacity : state.bufferCounts[channel] > self.resumeAt)
            {
                if started == nil { started = ContinuousClock.now }
                state.waitingProducers += 1
                return .wait(seconds: nil)
            }
            guard !state.cancelled else { return .done(false, signal: false) }
            state.queues[channel].append(element)
            if element.isBuffer { state.bufferCounts[channel] += 1 }
            return .done(true)
        }
        return (queued, started.map { ContinuousClock.now - $0 } ?? .zero)
    }

    /// Whether `channel` takes a buffer without waiting (or the gate is cancelled). When it is full, `waiter` (the
    /// producer's own gate) is signalled once the channel has drained to `resumeAt`: a producer checks this
    /// between records and, while it is false, runs its mail and sleeps in `waitForRoomOrMail` on its own gate.
    func hasRoom(channel: Int, waiter: InputGate) -> Bool {
        self.monitor.withLock(signalling: false) { state in
            if state.cancelled || state.bufferCounts[channel] < self.capacity { return true }
            if !state.roomWaiters[channel].contains(where: { $0 === waiter }) { state.roomWaiters[channel].append(waiter) }
            return false
        }
    }

    /// Wakes this gate's task from `waitForRoomOrMail`: a channel it feeds has room again.
    private func signalRoom() { self.monitor.withLock { $0.roomSignalled = true } }

    /// Sleeps until mail arrives, a channel this task feeds signals room (`hasRoom(channel:waiter:)`), the gate
    /// is cancelled, or `deadline`.
    func waitForRoomOrMail(deadline: Duration) {
        self.monitor.waiting { state -> Monitor<State>.Step<Void> in
            let now = RuntimeClock.now
            guard !state.cancelled && state.mail.isEmpty && !state.roomSignalled && now < deadline else {
                state.roomSignalled = false
                return .done((), signal: false)
            }
            return .wait(seconds: Double((deadline - now).milliseconds) / 1000)
        }
    }

    /// The next thing for the task: mail first; then a barrier `overtake` accepts from the middle of an unblocked
    /// queue; then the head of the next unblocked non-empty channel (round robin). Waits until `deadline`.
    func next(blocked: Set<Int>, deadline: Duration, overtake: (CheckpointBarrier) -> Bool) -> Next {
        // Producers waiting for room are signalled after the lock is released (their gates have their own locks).
        var wake: [InputGate] = []
        defer { for waiter in wake { waiter.signalRoom() } }
        return self.monitor.waiting { state -> Monitor<State>.Step<Next> in
            if state.cancelled { return .done(.cancelled, signal: false) }
            if !state.mail.isEmpty {
                defer { state.mail.removeAll() }
                return .done(.mail(state.mail), signal: false)
            }
            for channel in state.queues.indices where !blocked.contains(channel) {
                let queue = state.queues[channel]
                for position in queue.indices.dropFirst() {
                    guard case .barrier(let barrier) = queue[position] else { continue }
                    if overtake(barrier) {
                        let element = state.queues[channel].remove(at: position)
                        let buffers = queue[..<position].compactMap { item -> [UInt8]? in
                            if case .buffer(let bytes) = item { return bytes }
                            return nil
                        }
                        return .done(.element(channel: channel, element, overtaken: buffers), signal: false)
                    }
                    break
                }
            }
            let count = state.queues.count
            for step in 0..<count {
                let channel = (state.nextChannel + step) % count
                guard !blocked.contains(channel), let element = state.queues[channel].popFirst() else { continue }
                state.nextChannel = (channel + 1) % count
                var room = false
                if element.isBuffer {
                    state.bufferCounts[channel] -= 1
                    if state.bufferCounts[channel] <= self.resumeAt {
                        // Producers sleeping in `push` may send again.
                        room = state.waitingProducers > 0
                        if !state.roomWaiters[channel].isEmpty {
                            wake = state.roomWaiters[channel]
                            state.roomWaiters[channel].removeAll()
                        }
                    }
                }
                return .done(.element(channel: channel, element, overtaken: []), signal: room)
            }
            let now = RuntimeClock.now
            if now >= deadline { return .done(.idle, signal: false) }
            return .wait(seconds: Double((deadline - now).milliseconds) / 1000)
        }
    }

    /// Buffers queued on every channel (a metric).
    var queuedBuffers: Int { self.monitor.withLock(signalling: false) { $0.bufferCounts.reduce(0, +) } }
}
