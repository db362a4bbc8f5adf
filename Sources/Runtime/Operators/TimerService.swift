import KeyedState
import StateCore

/// Which clock a timer follows.
public enum TimeDomain: Sendable, Hashable {
    /// Fires when the watermark passes the timestamp.
    case eventTime
    /// Fires when the wall clock (milliseconds since 1970) passes the timestamp.
    case processingTime
}

/// Timers of one keyed operator, per key: kept in keyed state (map states `_timers.event` and
/// `_timers.processing`, timestamp → true) so they are checkpointed, restored and rescaled with the key's other
/// state, and indexed in memory by timestamp.
///
/// The in-memory index is a min-heap per domain (`TimerQueue`), rebuilt at restore by scanning the raw entries.
/// Event-time timers fire when the task's watermark (the minimum over its input channels) passes them;
/// processing-time timers are checked on every turn of the task loop. `windowAggregate` builds on them: the
/// accumulator is a value state whose namespace is the window start, with an event-time timer at the window's
/// last millisecond (`WindowAggregate`).
final class TimerService<Key> {
    private let state: KeyedStateBackend<Key>
    private var stores: [TimeDomain: MapState<Int64, Bool, VoidNamespace>] = [:]
    private var queues: [TimeDomain: TimerQueue<Key>] = [.eventTime: TimerQueue(), .processingTime: TimerQueue()]

    static func stateName(_ domain: TimeDomain) -> String {
        domain == .eventTime ? "_timers.event" : "_timers.processing"
    }

    /// Opens the timer states the restored backend has and indexes every timer in them.
    init(state: KeyedStateBackend<Key>) throws {
        self.state = state
        let columns = state.stateColumns
        for domain in [TimeDomain.eventTime, .processingTime] {
            guard let column = columns.firstIndex(where: { $0.name == Self.stateName(domain) }) else { continue }
            _ = try self.store(domain)
            let keySerializer = state.keySerializer
            var failure: (any Error)?
            try state.forEachRawEntry(column: column) { key, _ throws(StateError) -> Bool in
                var reader = key
                do {
                    try reader.skip(2)
                    let owner = try keySerializer.deserialize(from: &reader)
                    let timestamp = try IntegerSerializer<Int64>().deserialize(from: &reader)
                    self.queues[domain]!.insert(timestamp, owner)
                } catch {
                    failure = error
                    return false
                }
                return true
            }
            if let failure {
                throw RuntimeError(code: .serialization, message: "a timer in state '\(Self.stateName(domain))' does not decode: \(failure)")
            }
        }
    }

    private func store(_ domain: TimeDomain) throws(StateError) -> MapState<Int64, Bool, VoidNamespace> {
        if let store = self.stores[domain] { return store }
        let store = try self.state.mapState(MapStateDescriptor(Self.stateName(domain), keySerializer: .int64, valueSerializer: .bool))
        self.stores[domain] = store
        return store
    }

    /// Registers a timer for the current key.
    func register(_ timestamp: Int64, domain: TimeDomain) throws {
        guard let key = self.state.currentKey else {
            throw RuntimeError(code: .invalidJob, message: "a timer can only be registered while a key is current (in process or onTimer)")
        }
        let store = try self.store(domain)
        guard try store.get(timestamp) == nil else { return }
        try store.put(timestamp, true)
        self.queues[domain]!.insert(timestamp, key)
    }

    /// Deletes the current key's timer.
    func delete(_ timestamp: Int64, domain: TimeDomain) throws {
        try self.store(domain).remove(timestamp)
    }

    /// The earliest pending timer of `domain`.
    func next(_ domain: TimeDomain) -> Int64? { self.queues[domain]!.first }

    /// Fires every timer of `domain` at or before `time`, in timestamp order: sets the key, removes the timer
    /// from state, and calls `fire`.
    func fire(_ domain: TimeDomain, upTo time: Int64, _ fire: (Int64) throws -> Void) throws {
        while let (timestamp, key) = self.queues[domain]!.pop(notAfter: time) {
            try self.state.setCurrentKey(key)
            let store = try self.store(domain)
            guard try store.get(timestamp) != nil else { continue }
            try store.remove(timestamp)
            try fire(timestamp)
        }
    }
}
