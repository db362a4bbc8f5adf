import RocksKit

extension KeyedStateBackend {
    /// A RocksDB snapshot of the state as it is now, a point `rollBack(to:keys:prefixes:)` can return to; `nil`
    /// on the heap. Keys an earlier rollback deferred are written back first, so the snapshot holds the state.
    /// Release it with `releaseRollbackPoint(_:)`; the database releases what is left at close.
    /// - Throws: `StateError` from writing deferred keys back.
    package func makeRollbackPoint() throws(StateError) -> RocksSnapshot? {
        guard !self.core.closed else { return nil }
        try self.settleRollback()
        return self.rocksDatabase?.snapshot()
    }

    /// Releases a point from `makeRollbackPoint()`. Keys deferred to read at it are written back first; if that
    /// fails the point stays held (the database releases it at close), as those keys still read at it.
    package func releaseRollbackPoint(_ point: RocksSnapshot) {
        if let store = self.core.baseStore.engine.rocks, store.deferredPoint === point {
            guard (try? store.settle()) != nil else { return }
        }
        self.rocksDatabase?.release(point)
    }

    /// Returns the state to what it was at `point`, given every key changed since (`keys`) and every key prefix
    /// deleted since (`prefixes`, from map `clear`). Prefixes are written back now; keys are deferred and read at
    /// `point` until written again or settled (`settleRollback()`), so the rollback itself takes about no time.
    /// The writes bypass the change sink: they are not logged.
    /// - Returns: The writes made now, and the keys deferred.
    /// - Throws: `StateError` from the store; `.invalidArgument` on the heap.
    package func rollBack(to point: RocksSnapshot, keys: some Collection<RawStateKey>, prefixes: [RawStateKey])
        throws(StateError) -> (written: Int, deferred: Int)
    {
        try self.rocksStore(for: "rolling back needs").rollBack(keys: keys, prefixes: prefixes, to: point)
    }

    /// How many keys a rollback deferred are not written back yet (0 on the heap).
    package var deferredRollbackKeys: Int { self.core.baseStore.engine.rocks?.deferredKeys ?? 0 }

    /// The point the deferred keys read at, while any is deferred.
    package var deferredRollbackPoint: RocksSnapshot? { self.core.baseStore.engine.rocks?.deferredPoint }

    /// Writes back every key a rollback deferred, so the database holds the state as it is (before a snapshot of
    /// the database is taken: a checkpoint or a materialization). Nothing to do when none is deferred.
    /// - Returns: The writes made.
    @discardableResult
    package func settleRollback() throws(StateError) -> Int {
        try self.core.baseStore.engine.rocks?.settle() ?? 0
    }
}
