import Foundation
import Checkpointing
import Synchronization

/// A task's inbox: one lock and condition shared by its input channels and its mailbox, so the task thread
/// sleeps in one place and wakes for whichever comes first. Producers push into a channel's queue under the same
/// lock and wait on it while the queue is full (backpressure).
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

    /// Whether mail is waiting (sources poll this between records).
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

    /// Stops the task: every wait returns.
    func cancel() {
        self.condition.lock()
        self.cancelled = true
        self.condition.broadcast()
        self.condition.unlock()
    }

    var isCancelled: Bool {
        self.condition.lock()
        defer { self.condition.unlock() }
        return self.cancelled
    }

    /// Appends an element to `channel`. A buffer waits while the channel is full; barriers, watermarks and
    /// `force`d buffers never wait. While waiting, `interrupt` is polled (every millisecond): when it returns true
    /// the push gives up and returns false (the producer has mail to run).
    /// - Returns: whether the element was queued, and how long the producer was blocked.
    func push(
        _ element: ChannelElement, channel: Int, force: Bool = false, interrupt: () -> Bool = { false }
    ) -> (queued: Bool, blocked: Duration) {
        self.condition.lock()
        defer { self.condition.unlock() }
        var blocked = Duration.zero
        if element.isBuffer && !force {
            // A full channel takes buffers again once it has drained to `resumeAt`: the producer then sends
            // several before it blocks again, instead of waking for every buffer the consumer takes.
            if self.bufferCounts[channel] >= self.capacity && !self.cancelled {
                let started = ContinuousClock.now
                while self.bufferCounts[channel] > self.resumeAt && !self.cancelled {
                    self.condition.unlock()
                    let stop = interrupt()
                    self.condition.lock()
                    if stop { return (false, ContinuousClock.now - started) }
                    guard self.bufferCounts[channel] > self.resumeAt && !self.cancelled else { break }
                    self.waitingProducers += 1
                    _ = self.condition.wait(until: Date(timeIntervalSinceNow: 0.001))
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

    /// The next thing for the task: mail first; then a barrier `overtake` accepts from the middle of an unblocked
    /// queue; then the head of the next unblocked non-empty channel (round robin). Waits until `deadline`.
    func next(blocked: Set<Int>, deadline: Duration, overtake: (CheckpointBarrier) -> Bool) -> Next {
        self.condition.lock()
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
                    if self.waitingProducers > 0 && self.bufferCounts[channel] <= self.resumeAt { self.condition.broadcast() }
                }
                return .element(channel: channel, element, overtaken: [])
            }
            let now = RuntimeClock.now
            if now >= deadline { return .idle }
            let seconds = Double((deadline - now).milliseconds) / 1000 + 0.0002
            _ = self.condition.wait(until: Date(timeIntervalSinceNow: min(seconds, 0.05)))
        }
    }

    /// Buffers queued on every channel (a metric).
    var queuedBuffers: Int {
        self.condition.lock()
        defer { self.condition.unlock() }
        return self.bufferCounts.reduce(0, +)
    }
}
