import RocksKit
import StateCore

/// What checkpointing needs from a backend: its states in column order, raw access to the stored entries, and a
/// changelog hook. Raw keys and values are the stored layout (`docs/FORMATS.md`), identical on both engines.
extension KeyedStateBackend {
    /// Sends every later change to `sink` after it was applied (the changelog).
    package func attachChangeSink(_ sink: any StateChangeSink) {
        self.core.attach(sink)
    }

    /// Every opened state's metadata, by column index (the index changelog records and snapshots use).
    package var stateColumns: [StateMetadata] {
        self.core.registrations.values.sorted { $0.column < $1.column }.map(\.metadata)
    }

    /// Opens the states of a restored snapshot in its column order, before the job registers them.
    /// - Throws: `StateError` when a state is incompatible with what the store holds, or if states were
    ///   registered already (restore must come first).
    package func openRestoredColumns(_ states: [StateMetadata]) throws(StateError) {
        guard self.core.registrations.isEmpty else {
            throw StateError(
                code: .invalidArgument,
                message: "restore must open the snapshot's states before any state is registered")
        }
        for (index, var metadata) in states.enumerated() {
            if self.engine == .heap { metadata.valueSeparation = nil }
            let column = try self.core.register(metadata)
            precondition(column == index, "restored column \(metadata.name) opened at \(column), expected \(index)")
            self.core.restoredOnly.insert(metadata.name)
        }
    }

    /// Applies changes without logging them, batched where the engine can (restore and changelog replay). A
    /// `primaryLength` of `-1` means unknown: it is the key's length for every state but map state, and a map
    /// entry on the heap waits for the state's registration to be split.
    package func applyRaw(_ changes: [RawStateChange]) throws(StateError) {
        var changes = changes
        if changes.contains(where: { $0.primaryLength < 0 }) {
            let mapColumns = Set(self.core.registrations.values.filter { $0.metadata.kind == .map }.map(\.column))
            for index in changes.indices
            where changes[index].primaryLength < 0 && !mapColumns.contains(changes[index].column) {
                changes[index].primaryLength = changes[index].key.count
            }
        }
        try self.core.baseStore.apply(changes)
    }

    /// Visits every stored entry of `column` in key order (the heap: in primary-key order) until `body` returns
    /// false.
    package func forEachRawEntry(
        column: Int, _ body: (ByteReader, ByteReader) throws(StateError) -> Bool
    ) throws(StateError) {
        try self.core.baseStore.scan(column, prefix: [], body)
    }

    /// A copy-on-write image of a heap backend's entries (`nil` for RocksDB).
    package func heapImage() -> HeapStateImage? {
        self.core.baseStore.engine.heap?.image()
    }
}
