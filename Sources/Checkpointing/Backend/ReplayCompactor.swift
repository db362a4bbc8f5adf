import KeyedState

/// Collapses a stream of replayed changes so each key is written once: a later put or delete of a key replaces
/// an earlier one still pending, a prefix delete drops the pending changes it covers, and an append first flushes
/// the pending change of its own key (an append needs what came before it). Changes of different keys commute,
/// so the pending ones are written last, after everything that was emitted in order.
///
/// Prefix deletes come only from map state's `clear`, whose prefix is a primary key (`keyGroup ‖ key ‖
/// namespace`); pending entries are grouped by primary key so such a delete drops its group in one step.
///
/// Invariants: 1. `pending` holds only puts and deletes, at most one per `(column, key)`. 2. For every key, the
/// changes emitted plus its pending one, applied in emission order then pending, leave the state the full stream
/// would have left.
///
/// The replay of a short changelog (below `Limits.tableReplayBytes`, 4 MiB, and every replay on the
/// heap) goes through it: the last put or delete of each key wins, list appends and map clears keep their order,
/// and the pending keys go to the store sorted, in write batches of 4,096 changes (`replayBatch`). A long
/// changelog on RocksDB goes through `TableReplay` instead.
struct ReplayCompactor {
    private typealias Slot = RawStateKey

    private var pending: [Slot: RawStateChange] = [:]
    /// Pending keys by `(column, primary key)`: a map state's `clear` deletes exactly one such group.
    private var byPrimary: [Slot: Set<[UInt8]>] = [:]
    /// Changes that must be applied now, in order (appends, prefix deletes, and what they forced out).
    private(set) var ordered: [RawStateChange] = []
    /// Changes seen.
    private(set) var seen = 0

    /// Takes one change in SQN order.
    mutating func add(_ change: RawStateChange) {
        self.seen += 1
        switch change.kind {
        case .put, .delete:
            self.pending[Slot(column: change.column, key: change.key)] = change
            if change.primaryLength >= 0 && change.primaryLength < change.key.count {
                let primary = Slot(column: change.column, key: Array(change.key[..<change.primaryLength]))
                self.byPrimary[primary, default: []].insert(change.key)
            }
        case .append:
            if let earlier = self.pending.removeValue(forKey: Slot(column: change.column, key: change.key)) {
                self.ordered.append(earlier)
            }
            self.ordered.append(change)
        case .deletePrefix:
            if let group = self.byPrimary.removeValue(forKey: Slot(column: change.column, key: change.key)) {
                for key in group { self.pending[Slot(column: change.column, key: key)] = nil }
            }
            // Keys are concatenations of self-delimiting (prefix-free) encodings, so the only keys of a column that
            // start with a primary key are that primary's map entries (and an entry with an empty map key).
            self.pending[Slot(column: change.column, key: change.key)] = nil
            self.ordered.append(change)
        }
    }

    /// Hands out the ordered changes gathered so far (to apply before anything else).
    mutating func takeOrdered() -> [RawStateChange] {
        defer { self.ordered.removeAll(keepingCapacity: true) }
        return self.ordered
    }

    /// Hands out everything pending (to apply after every ordered change), sorted by column and key: RocksDB's
    /// memtable inserts keys that arrive in order several times faster than keys in random order.
    mutating func takePending() -> [RawStateChange] {
        defer {
            self.pending.removeAll(keepingCapacity: true)
            self.byPrimary.removeAll()
        }
        return self.pending.sorted { $0.key < $1.key }.map(\.value)
    }

    /// The number of pending changes.
    var pendingCount: Int { self.pending.count }
}
