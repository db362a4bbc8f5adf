import StateCore

/// A store that applies each change to the store under it and then hands it to a `StateChangeSink` (the
/// changelog). Reads go straight through. A change the inner store refused is not recorded.
///
/// The one hook KeyedState gives checkpointing: attaching a `StateChangeSink` (package access) makes `BackendCore`
/// swap its store for one of these over `baseStore`. Restore, replay, rollback and ingest write to the unwrapped
/// `baseStore`, so what they write is not logged again.
final class ChangeLoggingStore: StateStore {
    let inner: any StateStore
    let sink: any StateChangeSink

    init(inner: any StateStore, sink: any StateChangeSink) {
        self.inner = inner
        self.sink = sink
    }

    func persistedMetadata(named name: String) -> StateMetadata? { self.inner.persistedMetadata(named: name) }

    var engine: StoreEngine { self.inner.engine }

    func openColumn(_ metadata: StateMetadata) throws(StateError) -> Int { try self.inner.openColumn(metadata) }

    func put(_ column: Int, key: [UInt8], primaryLength: Int, value: [UInt8]) throws(StateError) {
        try self.inner.put(column, key: key, primaryLength: primaryLength, value: value)
        try self.sink.stateChanged(.put, column: column, key: key, primaryLength: primaryLength, value: value)
    }

    func get<R>(
        _ column: Int, key: [UInt8], primaryLength: Int, _ body: (inout ByteReader?) throws(StateError) -> R
    ) throws(StateError) -> R {
        try self.inner.get(column, key: key, primaryLength: primaryLength, body)
    }

    func append(_ column: Int, key: [UInt8], operand: [UInt8]) throws(StateError) {
        try self.inner.append(column, key: key, operand: operand)
        try self.sink.stateChanged(.append, column: column, key: key, primaryLength: key.count, value: operand)
    }

    func delete(_ column: Int, key: [UInt8], primaryLength: Int) throws(StateError) {
        try self.inner.delete(column, key: key, primaryLength: primaryLength)
        try self.sink.stateChanged(.delete, column: column, key: key, primaryLength: primaryLength, value: [])
    }

    func scan(
        _ column: Int, prefix: [UInt8], _ body: (ByteReader, ByteReader) throws(StateError) -> Bool
    ) throws(StateError) {
        try self.inner.scan(column, prefix: prefix, body)
    }

    func deletePrefix(_ column: Int, prefix: [UInt8]) throws(StateError) {
        try self.inner.deletePrefix(column, prefix: prefix)
        try self.sink.stateChanged(.deletePrefix, column: column, key: prefix, primaryLength: prefix.count, value: [])
    }

    func close(discarding: Bool) throws(StateError) { try self.inner.close(discarding: discarding) }

    func resolvePrimaryLengths(_ column: Int, _ resolver: ([UInt8]) -> Int?) throws(StateError) {
        try self.inner.resolvePrimaryLengths(column, resolver)
    }
}
