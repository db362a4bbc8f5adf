import Foundation
import Checkpointing
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
final class InputGate: @unchecked Sendable {
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
    enum Next {
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

    private let condition = NSCondition()
    private var queues: [[ChannelElement]]
    private var bufferCounts: [Int]
    private var mail: [Mail] = []
    private var cancelled = false
    private var waitingProducers = 0
    /// Per channel, the producers' gates to signal once it has drained to `resumeAt`.
    private var roomWaiters: [[InputGate]]
    /// A channel this gate's task feeds has room again (reset by `waitForRoomOrMail`).
    private var roomSignalled = false
    private var nextChannel = 0
    /// Buffers a channel holds before its producer blocks.
    let capacity: Int
    /// Buffers a full channel drains to before its blocked producer may send again.
    let resumeAt: Int
    /// The size at which producers send a buffer to this gate: the configured buffer size, or less while buffer
    /// debloating shrinks it (written by the consuming task, read by producers after each buffer they send).
    let bufferSize: Atomic<Int>

    init(channels: Int, capacity: Int, bufferSize: Int) {
        self.queues = Array(repeating: [], count: channels)
        self.bufferCounts = Array(repeating: 0, count: channels)
        self.roomWaiters = Array(repeating: [], count: channels)
        self.capacity = capacity
        self.bufferSize = Atomic(bufferSize)
        self.resumeAt = capacity / 2
    }

    var channelCount: Int { self.queues.count }

    /// Queues mail for the task.
    func post(_ mail: Mail) {
        self.condition.lock()
        self.mail.append(mail)
        self.condition.broadcast()
        self.condition.unlock()
    }

    /// Whether mail is waiting or the task is cancelled (sources poll this between records).
    var hasMail: Bool {
        self.condition.lock()
        defer { self.condition.unlock() }
        return !self.mail.isEmpty || self.cancelled
    }

    /// Takes the waiting mail.
    func takeMail() -> [Mail] {
        self.condition.lock()
        defer { self.condition.unlock() }
        let taken = self.mail
        self.mail.removeAll()
        return taken
    }

    /// Stops the task: every wait returns (producers waiting for room in its channels too).
    func cancel() {
        self.condition.lock()
        self.cancelled = true
        let waiters = self.roomWaiters.joined()
        self.roomWaiters = self.roomWaiters.map { _ in [] }
        self.condition.broadcast()
        self.condition.unlock()
        for waiter in waiters { waiter.signalRoom() }
    }

    var isCancelled: Bool {
        self.condition.lock()
        defer { self.condition.unlock() }
        return self.cancelled
    }

    /// Appends an element to `channel`. A buffer waits while the channel is full (until it has drained to
    /// `resumeAt`); barriers, watermarks and `force`d buffers never wait. Nothing else runs on the producer's
    /// thread while it waits: its mail waits for the record boundary (see `hasRoom(channel:waiter:)`).
    /// - Returns: whether the element was queued (false: the gate was cancelled), and how long the producer was
    ///   blocked.
    func push(_ element: ChannelElement, channel: Int, force: Bool = false) -> (queued: Bool, blocked: Duration) {
        self.condition.lock()
        defer { self.condition.unlock() }
        var blocked = Duration.zero
        if element.isBuffer && !force {
            // A full channel takes buffers again once it has drained to `resumeAt`: the producer then sends
            // several before it blocks again, instead of waking for every buffer the consumer takes.
            if self.bufferCounts[channel] >= self.capacity && !self.cancelled {
                let started = ContinuousClock.now
                while self.bufferCounts[channel] > self.resumeAt && !self.cancelled {
                    self.waitingProducers += 1
                    _ = self.condition.wait(until: Date(timeIntervalSinceNow: Limits.channelWaitSlice))
                    self.waitingProducers -= 1
                }
                blocked = ContinuousClock.now - started
            }
        }
        guard !self.cancelled else { return (false, blocked) }
        self.queues[channel].append(element)
        if element.isBuffer { self.bufferCounts[channel] += 1 }
        self.condition.broadcast()
        return (true, blocked)
    }

    /// Whether `channel` takes a buffer without waiting (or the gate is cancelled). When it is full, `waiter` (the
    /// producer's own gate) is signalled once the channel has drained to `resumeAt`: a producer checks this
    /// between records and, while it is false, runs its mail and sleeps in `waitForRoomOrMail` on its own gate.
    func hasRoom(channel: Int, waiter: InputGate) -> Bool {
        self.condition.lock()
        defer { self.condition.unlock() }
        if self.cancelled || self.bufferCounts[channel] < self.capacity { return true }
        if !self.roomWaiters[channel].contains(where: { $0 === waiter }) { self.roomWaiters[channel].append(waiter) }
        return false
    }

    /// Wakes this gate's task from `waitForRoomOrMail`: a channel it feeds has room again.
    private func signalRoom() {
        self.condition.lock()
        self.roomSignalled = true
        self.condition.broadcast()
        self.condition.unlock()
    }

    /// Sleeps until mail arrives, a channel this task feeds signals room (`hasRoom(channel:waiter:)`), the gate
    /// is cancelled, or `deadline`.
    func waitForRoomOrMail(deadline: Duration) {
        self.condition.lock()
        defer { self.condition.unlock() }
        while !self.cancelled && self.mail.isEmpty && !self.roomSignalled {
            let now = RuntimeClock.now
            if now >= deadline { break }
            let seconds = Double((deadline - now).milliseconds) / 1000 + 0.0002
            _ = self.condition.wait(until: Date(timeIntervalSinceNow: min(seconds, Limits.channelWaitSlice)))
        }
        self.roomSignalled = false
    }

    /// The next thing for the task: mail first; then a barrier `overtake` accepts from the middle of an unblocked
    /// queue; then the head of the next unblocked non-empty channel (round robin). Waits until `deadline`.
    func next(blocked: Set<Int>, deadline: Duration, overtake: (CheckpointBarrier) -> Bool) -> Next {
        self.condition.lock()
        // Producers waiting for room are signalled after the lock is released (their gates have their own locks).
        var wake: [InputGate] = []
        defer { for waiter in wake { waiter.signalRoom() } }
        defer { self.condition.unlock() }
        while true {
            if self.cancelled { return .cancelled }
            if !self.mail.isEmpty {
                let taken = self.mail
                self.mail.removeAll()
                return .mail(taken)
            }
            for channel in self.queues.indices where !blocked.contains(channel) {
                let queue = self.queues[channel]
                for position in queue.indices.dropFirst() {
                    guard case .barrier(let barrier) = queue[position] else { continue }
                    if overtake(barrier) {
                        let element = self.queues[channel].remove(at: position)
                        let buffers = queue[..<position].compactMap { item -> [UInt8]? in
                            if case .buffer(let bytes) = item { return bytes }
                            return nil
                        }
                        return .element(channel: channel, element, overtaken: buffers)
                    }
                    break
                }
            }
            let count = self.queues.count
            for step in 0..<count {
                let channel = (self.nextChannel + step) % count
                guard !blocked.contains(channel), !self.queues[channel].isEmpty else { continue }
                self.nextChannel = (channel + 1) % count
                let element = self.queues[channel].removeFirst()
                if element.isBuffer {
                    self.bufferCounts[channel] -= 1
                    if self.bufferCounts[channel] <= self.resumeAt {
                        if self.waitingProducers > 0 { self.condition.broadcast() }
                        if !self.roomWaiters[channel].isEmpty {
                            wake = self.roomWaiters[channel]
                            self.roomWaiters[channel].removeAll()
                        }
                    }
                }
                return .element(channel: channel, element, overtaken: [])
            }
            let now = RuntimeClock.now
            if now >= deadline { return .idle }
            let seconds = Double((deadline - now).milliseconds) / 1000 + 0.0002
            _ = self.condition.wait(until: Date(timeIntervalSinceNow: min(seconds, Limits.channelWaitSlice)))
        }
    }

    /// Buffers queued on every channel (a metric).
    var queuedBuffers: Int {
        self.condition.lock()
        defer { self.condition.unlock() }
        return self.bufferCounts.reduce(0, +)
    }
}
