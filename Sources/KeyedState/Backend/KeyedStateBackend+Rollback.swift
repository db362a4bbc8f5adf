import RocksKit

extension KeyedStateBackend {
    /// A RocksDB snapshot of the state as it is now, a point `rollBack(to:keys:prefixes:)` can return to; `nil`
    /// on the heap. Release it with `releaseRollbackPoint(_:)`; the database releases what is left at close.
    package func makeRollbackPoint() -> RocksSnapshot? {
        guard !self.core.closed else { return nil }
        return self.rocksDatabase?.snapshot()
    }

    /// Releases a point from `makeRollbackPoint()`.
    package func releaseRollbackPoint(_ point: RocksSnapshot) {
        self.rocksDatabase?.release(point)
    }

    /// Returns the state to what it was at `point`, given every key changed since (`keys`) and every key prefix
    /// deleted since (`prefixes`, from map `clear`). The writes bypass the change sink: they are not logged.
    /// - Returns: The writes made.
    /// - Throws: `StateError` from the store; `.invalidArgument` on the heap.
    package func rollBack(to point: RocksSnapshot, keys: [RawStateKey], prefixes: [RawStateKey]) throws(StateError) -> Int {
        try self.rocksStore(for: "rolling back needs").rollBack(keys: keys, prefixes: prefixes, to: point)
    }
}
