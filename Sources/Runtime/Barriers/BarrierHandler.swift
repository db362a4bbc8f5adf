/// How a task with several inputs lines up checkpoint barriers.
public enum AlignmentMode: Sendable, Hashable, CustomStringConvertible {
    /// Stop reading each input once its barrier arrives; snapshot when all have delivered it.
    case aligned
    /// Snapshot and forward at the first barrier; persist the in-flight data the barriers overtook.
    case unaligned
    /// Start aligned; switch the checkpoint to unaligned once it is older than the timeout.
    case alignmentTimeout(Duration)

    /// The mode named `aligned`, `unaligned` or `timeout` (aligned, switching to unaligned after `timeout`), as
    /// command-line flags name them; nil for another name.
    public init?(name: String, timeout: Duration) {
        switch name {
        case "aligned": self = .aligned
        case "unaligned": self = .unaligned
        case "timeout": self = .alignmentTimeout(timeout)
        default: return nil
        }
    }

    /// `aligned`, `unaligned` or `timeout-<ms>ms`.
    public var description: String {
        switch self {
        case .aligned: "aligned"
        case .unaligned: "unaligned"
        case .alignmentTimeout(let timeout): "timeout-\(timeout.milliseconds)ms"
        }
    }
}

/// The barrier handling of one task as a pure state machine: events in (a barrier on a channel, a buffer taken
/// from a channel, the clock, an abort), actions out (block a channel, snapshot, forward the barrier, finish).
///
/// Channels are `0..<inputs`. A barrier arrives with the number of buffers it overtook in its channel (0 when it
/// was at the head of the queue): those buffers are before the barrier, and an unaligned checkpoint persists them
/// at once (`persistOvertaken`) — they are processed later without being recorded again. Invariants: 1. at most one checkpoint is pending; a newer barrier aborts it.
/// 2. `snapshot` comes exactly once per completed checkpoint, before `finish`. 3. in aligned state no channel whose
/// barrier arrived is read until `unblockAll`.
///
/// Aligned: block each channel at its barrier, snapshot and forward when all arrived. Unaligned: the gate takes a
/// barrier from anywhere in a queue (`mayOvertake`); the first one makes the task forward the barrier and snapshot
/// at once, and buffers arriving on other channels before their barrier are recorded as they are taken. The
/// producer's output queue and the consumer's input queue are one queue here, so in-flight data is persisted
/// once, by the consumer (a `ChannelStateFile` per task). Alignment timeout: aligned until the checkpoint is older
/// than the timeout (measured from the trigger, carried in the barrier), then unaligned. The final checkpoint
/// after all sources ended, and a stop checkpoint, are always aligned, so no record is in flight after them.
/// Tested on its own (`BarrierHandlerTests`); `StreamTask` performs the actions.
public struct BarrierHandler: Sendable {
    /// What the task must do.
    public enum Action: Sendable, Hashable {
        /// Stop reading the channel (aligned).
        case block(channel: Int)
        /// Read every channel again.
        case unblockAll
        /// Snapshot operator state for the checkpoint (`unaligned`: channel data will follow).
        case snapshot(checkpointID: Int64, unaligned: Bool)
        /// Send the barrier to every output.
        case forward(checkpointID: Int64)
        /// Persist the buffers the barrier just overtook on `channel` (still queued behind it) as channel state.
        case persistOvertaken(channel: Int)
        /// Every barrier is in: persist channel state and acknowledge.
        case finish(checkpointID: Int64)
        /// The checkpoint is given up: drop what was recorded for it.
        case abort(checkpointID: Int64)
    }

    private struct Pending: Sendable {
        var id: Int64
        var triggeredAt: Duration
        var unaligned: Bool
        var seen: Set<Int>
        /// Never switched to unaligned (the final checkpoint).
        var forceAligned = false
    }

    /// The number of input channels.
    public let inputs: Int
    /// The configured mode.
    public let mode: AlignmentMode
    private var pending: Pending?
    private var ended: Set<Int> = []
    /// The newest checkpoint started here (barriers at or below it are stale).
    public private(set) var latestCheckpointID: Int64 = 0

    /// Creates a handler for `inputs` channels.
    public init(inputs: Int, mode: AlignmentMode) {
        self.inputs = inputs
        self.mode = mode
    }

    /// The pending checkpoint, if any.
    public var pendingCheckpointID: Int64? { self.pending?.id }
    /// Whether the pending checkpoint is being aligned (channels may be blocked).
    public var isAligning: Bool { self.pending.map { !$0.unaligned } ?? false }

    /// Whether a barrier of checkpoint `id` triggered at `triggeredAt` may be taken from the middle of a
    /// channel's queue now (overtaking the buffers before it): always when unaligned, after the timeout when
    /// the mode has one, never when aligned.
    public func mayOvertake(checkpointID id: Int64, triggeredAt: Duration, now: Duration) -> Bool {
        guard id > self.latestCheckpointID || self.pending?.id == id else { return false }
        return self.unalignedNow(triggeredAt: triggeredAt, now: now)
    }

    private func unalignedNow(triggeredAt: Duration, now: Duration) -> Bool {
        switch self.mode {
        case .aligned: return false
        case .unaligned: return true
        case .alignmentTimeout(let timeout): return now - triggeredAt >= timeout
        }
    }

    /// A barrier of checkpoint `id` arrived on `channel`, ahead of `overtaken` buffers of that channel.
    /// `forceAligned` (the final checkpoint) aligns whatever the mode.
    public mutating func barrier(
        checkpointID id: Int64, channel: Int, overtaken: Int = 0, triggeredAt: Duration, now: Duration,
        forceAligned: Bool = false
    ) -> [Action] {
        var actions: [Action] = []
        if let pending = self.pending, id > pending.id {
            actions += self.abortPending()
        }
        if self.pending == nil {
            guard id > self.latestCheckpointID else { return actions }
            self.latestCheckpointID = id
            let unaligned = !forceAligned && (overtaken > 0 || self.unalignedNow(triggeredAt: triggeredAt, now: now))
            self.pending = Pending(
                id: id, triggeredAt: triggeredAt, unaligned: unaligned, seen: [], forceAligned: forceAligned)
            if unaligned {
                actions += [.forward(checkpointID: id), .snapshot(checkpointID: id, unaligned: true)]
            }
        }
        guard var pending = self.pending, pending.id == id, !pending.seen.contains(channel) else { return actions }
        pending.seen.insert(channel)
        if overtaken > 0 {
            if !pending.unaligned {
                // The alignment timed out: switch this checkpoint to unaligned.
                pending.unaligned = true
                actions += [.forward(checkpointID: id), .snapshot(checkpointID: id, unaligned: true), .unblockAll]
            }
            actions.append(.persistOvertaken(channel: channel))
        }
        self.pending = pending
        let finished = self.finishIfComplete()
        if finished.isEmpty && !pending.unaligned { actions.append(.block(channel: channel)) }
        return actions + finished
    }

    /// A buffer was taken from `channel`. Returns whether it belongs to the pending checkpoint's channel state
    /// (the task must persist it before processing it), and any actions.
    public mutating func buffer(channel: Int) -> (record: Bool, actions: [Action]) {
        guard let pending = self.pending, pending.unaligned else { return (false, []) }
        return (!pending.seen.contains(channel) && !self.ended.contains(channel), [])
    }

    /// The clock moved: an aligning checkpoint older than the alignment timeout switches to unaligned.
    public mutating func tick(now: Duration) -> [Action] {
        guard case .alignmentTimeout(let timeout) = self.mode, var pending = self.pending, !pending.unaligned,
            !pending.forceAligned, now - pending.triggeredAt >= timeout
        else { return [] }
        pending.unaligned = true
        self.pending = pending
        return [.forward(checkpointID: pending.id), .snapshot(checkpointID: pending.id, unaligned: true), .unblockAll]
    }

    /// The channel ended: it delivers no more barriers (its barrier counts as arrived).
    public mutating func endOfInput(channel: Int) -> [Action] {
        self.ended.insert(channel)
        return self.finishIfComplete()
    }

    /// The coordinator gave up checkpoint `id` (timeout, failure elsewhere).
    public mutating func abort(checkpointID id: Int64) -> [Action] {
        self.latestCheckpointID = max(self.latestCheckpointID, id)
        guard self.pending?.id == id else { return [] }
        return self.abortPending()
    }

    private mutating func abortPending() -> [Action] {
        guard let pending = self.pending else { return [] }
        self.pending = nil
        return pending.unaligned || pending.seen.isEmpty
            ? [.abort(checkpointID: pending.id)] : [.unblockAll, .abort(checkpointID: pending.id)]
    }

    private mutating func finishIfComplete() -> [Action] {
        guard let pending = self.pending,
            (0..<self.inputs).allSatisfy({ pending.seen.contains($0) || self.ended.contains($0) })
        else { return [] }
        self.pending = nil
        if pending.unaligned { return [.finish(checkpointID: pending.id)] }
        return [.snapshot(checkpointID: pending.id, unaligned: false), .forward(checkpointID: pending.id)]
            + [.unblockAll, .finish(checkpointID: pending.id)]
    }
}
