import StateCore

/// The storage under a keyed state backend: one column per registered state, byte keys and values.
///
/// Keys are `keyGroup ‖ key ‖ namespace` (‖ map key); `primaryLength` says where the map key starts (it equals
/// the key's length for every state but map state). Implementations: `RocksStateStore` and `HeapStateStore`.
/// A store is used by one thread at a time: its backend's owner.
///
/// One protocol for both engines keeps their semantics identical: the model test (`StateModelTests`) runs the same
/// random operations against both. The key group is the key's first two bytes (big-endian), so a key group is one
/// contiguous range of every column, which is what rescaling cuts along. Value, reducing and aggregating states are
/// one entry, `[timestamp ‖] value` (reducing and aggregating read, fold, write); a list is one entry of framed
/// elements, appended with one merge of the concatenation operator (a C callback that appends operands), so an
/// append never reads the list; a map is one entry per map entry, iterated by a bounded prefix scan. The bytes:
/// `docs/FORMATS.md`.
protocol StateStore: AnyObject {
    /// Metadata a previous run persisted for `name`, if the store keeps any.
    func persistedMetadata(named name: String) -> StateMetadata?
    /// Opens (creating if needed) the column for a state and persists its metadata; returns the column index.
    func openColumn(_ metadata: StateMetadata) throws(StateError) -> Int
    /// Writes a value.
    func put(_ column: Int, key: [UInt8], primaryLength: Int, value: [UInt8]) throws(StateError)
    /// Reads a value without copying it out; the reader is valid only inside `body`.
    func get<R>(
        _ column: Int, key: [UInt8], primaryLength: Int, _ body: (inout ByteReader?) throws(StateError) -> R
    ) throws(StateError) -> R
    /// Appends framed bytes to a value (creating it), without reading it.
    func append(_ column: Int, key: [UInt8], operand: [UInt8]) throws(StateError)
    /// Deletes a value.
    func delete(_ column: Int, key: [UInt8], primaryLength: Int) throws(StateError)
    /// Visits every entry whose key starts with `prefix`, until `body` returns false.
    func scan(
        _ column: Int, prefix: [UInt8], _ body: (ByteReader, ByteReader) throws(StateError) -> Bool
    ) throws(StateError)
    /// Deletes every entry whose key starts with `prefix`.
    func deletePrefix(_ column: Int, prefix: [UInt8]) throws(StateError)
    /// Releases the storage: flushing what must survive, or — when `discarding` — dropping what is not durable
    /// yet (the state is about to be rebuilt).
    func close(discarding: Bool) throws(StateError)
    /// Gives the store the function that finds where a map key starts in a full map-state key, for entries
    /// restored as raw bytes without that position (only the heap store needs it).
    func resolvePrimaryLengths(_ column: Int, _ resolver: ([UInt8]) -> Int?) throws(StateError)
    /// Applies raw changes in order, batched where the engine can (restore and replay).
    func apply(_ changes: [RawStateChange]) throws(StateError)
    /// The engine under this store, for what only that engine does (RocksDB: rollback, table files, the
    /// database; heap: its image). A wrapper answers with the store it wraps.
    var engine: StoreEngine { get }
}

/// The store that holds the state, by engine: what `StateStore.engine` answers, so callers reach an engine's own
/// operations by a `switch`, not a downcast.
enum StoreEngine {
    /// RocksDB: local rollback, table-file ingestion, statistics and the database itself.
    case rocksDB(RocksStateStore)
    /// The heap: the image a full snapshot writes.
    case heap(HeapStateStore)

    /// The RocksDB store, or nil on the heap.
    var rocks: RocksStateStore? {
        if case .rocksDB(let store) = self { store } else { nil }
    }

    /// The heap store, or nil on RocksDB.
    var heap: HeapStateStore? {
        if case .heap(let store) = self { store } else { nil }
    }
}

/// One raw change for `StateStore.apply(_:)`.
package struct RawStateChange: Sendable {
    /// What the change does.
    package var kind: StateChangeKind
    /// The state's column.
    package var column: Int
    /// The stored key (or key prefix for `deletePrefix`).
    package var key: [UInt8]
    /// Where the map key starts; `-1` when unknown.
    package var primaryLength: Int
    /// The stored value or list operand.
    package var value: [UInt8]

    /// Creates a change.
    package init(kind: StateChangeKind, column: Int, key: [UInt8], primaryLength: Int, value: [UInt8]) {
        self.kind = kind
        self.column = column
        self.key = key
        self.primaryLength = primaryLength
        self.value = value
    }
}

extension StateStore {
    func resolvePrimaryLengths(_ column: Int, _ resolver: ([UInt8]) -> Int?) throws(StateError) {}

    /// Applies changes in order (stores that can batch override this).
    func apply(_ changes: [RawStateChange]) throws(StateError) {
        for change in changes {
            switch change.kind {
            case .put: try self.put(change.column, key: change.key, primaryLength: change.primaryLength, value: change.value)
            case .append: try self.append(change.column, key: change.key, operand: change.value)
            case .delete:
                try self.delete(
                    change.column, key: change.key,
                    primaryLength: change.primaryLength < 0 ? change.key.count : change.primaryLength)
            case .deletePrefix: try self.deletePrefix(change.column, prefix: change.key)
            }
        }
    }
}

extension [UInt8] {
    /// The smallest byte string greater than every string with this prefix, or `nil` when there is none
    /// (all bytes 0xFF).
    package var prefixSuccessor: [UInt8]? {
        var result = self
        while let last = result.last {
            if last < 0xFF {
                result[result.count - 1] = last + 1
                return result
            }
            result.removeLast()
        }
        return nil
    }
}
