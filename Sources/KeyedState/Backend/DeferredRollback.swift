import RocksKit

/// The keys a lazy rollback has not written back yet. Each still holds the failed attempt's value in the
/// database, but its state is the value `point` saw, so a read of it reads at `point`. A write of it makes it
/// current again, and the key leaves the set. The records the next attempt reprocesses write most of these keys
/// again anyway.
///
/// Invariant: a key is in `keys` only while its value at `point` is its state. `point` stays held (it is a
/// rollback point the tracker owns) until the set is empty.
///
/// Held by `RocksStateStore`: a get of a deferred key reads at `point`, a put or delete makes it current (it leaves
/// the set), and a list append first writes its value at `point` back. What is left is written back (sorted,
/// batched MultiGets at `point`, one write batch per 4,096 keys) before anything reads the database as a whole: a
/// scan or prefix delete (that column only), the snapshot of an incremental or full checkpoint, a rollback point,
/// a materialization, a non-discarding close.
struct DeferredRollback {
    /// The snapshot the deferred keys read at.
    let point: RocksSnapshot
    /// The deferred keys.
    private(set) var keys: Set<RawStateKey>
    /// How many of `keys` each column has, indexed by column.
    private var perColumn: [Int]

    /// Defers `keys`, all of which read at `point`.
    init(point: RocksSnapshot, keys: some Sequence<RawStateKey>) {
        self.point = point
        self.keys = Set(keys)
        self.perColumn = []
        for key in self.keys { self.count(key.column, by: 1) }
    }

    /// True when no key is left.
    var isEmpty: Bool { self.keys.isEmpty }

    /// True when `column` has deferred keys.
    func has(column: Int) -> Bool { column < self.perColumn.count && self.perColumn[column] > 0 }

    /// True when `key` of `column` is deferred.
    func contains(_ column: Int, _ key: [UInt8]) -> Bool {
        self.has(column: column) && self.keys.contains(RawStateKey(column: column, key: key))
    }

    /// Adds keys that read at the same `point`.
    mutating func formUnion(_ more: some Sequence<RawStateKey>) {
        for key in more where self.keys.insert(key).inserted { self.count(key.column, by: 1) }
    }

    /// `key` of `column` is current again (written, deleted or written back).
    mutating func remove(_ column: Int, _ key: [UInt8]) {
        guard self.has(column: column), self.keys.remove(RawStateKey(column: column, key: key)) != nil else { return }
        self.count(column, by: -1)
    }

    /// Takes the deferred keys of `column` (every column when `nil`) out of the set, in key order.
    mutating func take(column: Int?) -> [RawStateKey] {
        let taken: [RawStateKey]
        if let column {
            guard self.has(column: column) else { return [] }
            taken = self.keys.filter { $0.column == column }.sorted()
            self.keys = self.keys.filter { $0.column != column }
            self.perColumn[column] = 0
        } else {
            taken = self.keys.sorted()
            self.keys.removeAll()
            self.perColumn.removeAll()
        }
        return taken
    }

    private mutating func count(_ column: Int, by delta: Int) {
        if column >= self.perColumn.count { self.perColumn += Array(repeating: 0, count: column + 1 - self.perColumn.count) }
        self.perColumn[column] += delta
    }
}
