import RocksKit
import StateCore

/// Keyed state of one subtask: value, list, map, reducing and aggregating states, scoped to a current key (and
/// per state a namespace), for the keys of one key-group range.
///
/// Two storage engines sit behind the same API: RocksDB (`rocksDB(directory:…)`, one column family per state,
/// optional key/value separation, TTL compaction filters, WAL off) and the heap (`heap(…)`, for tests and small
/// jobs). A backend and its states are used by one thread at a time (the task that owns them); they are not
/// `Sendable`.
///
/// ```swift
/// let backend = try KeyedStateBackend.rocksDB(directory: "/tmp/weir-state", keySerializer: .int64)
/// let count = try backend.valueState(ValueStateDescriptor("count", serializer: .int64))
/// try backend.setCurrentKey(42)
/// try count.update((try count.value() ?? 0) + 1)
/// try backend.close()
/// ```
public final class KeyedStateBackend<Key> {
    /// Which storage engine holds the state.
    public enum Engine: String, Sendable {
        /// RocksDB in a local directory.
        case rocksDB
        /// Dictionaries in memory.
        case heap
    }

    let core: BackendCore
    /// The key serializer.
    public let keySerializer: any StateSerializer<Key>
    /// The storage engine.
    public let engine: Engine
    @exclusivity(unchecked) private var keyWriter = ByteWriter(capacity: 64)
    /// The current key, or `nil` before the first `setCurrentKey`.
    public private(set) var currentKey: Key?

    init(core: BackendCore, keySerializer: any StateSerializer<Key>, engine: Engine) {
        self.core = core
        self.keySerializer = keySerializer
        self.engine = engine
    }

    /// Creates a backend that keeps state in memory.
    /// - Parameters:
    ///   - keySerializer: Serializes keys; its bytes decide each key's group.
    ///   - keyGroupRange: The key groups this backend owns. Default: all of them.
    ///   - maxParallelism: The number of key groups. Default `Limits.maxParallelismDefault` (128).
    ///   - clock: TTL's clock. Default: the system clock.
    /// - Precondition: `keyGroupRange.end <= maxParallelism <= Limits.maxParallelismMax`.
    public static func heap(
        keySerializer: any StateSerializer<Key>,
        keyGroupRange: KeyGroupRange? = nil,
        maxParallelism: Int = Limits.maxParallelismDefault,
        clock: any StateClock = SystemStateClock()
    ) -> KeyedStateBackend<Key> {
        let core = BackendCore(
            store: HeapStateStore(), keyGroupRange: keyGroupRange ?? .all(maxParallelism: maxParallelism),
            maxParallelism: maxParallelism, clock: clock, keySchema: keySerializer.schema)
        return KeyedStateBackend(core: core, keySerializer: keySerializer, engine: .heap)
    }

    /// Opens a backend that keeps state in RocksDB at `directory`.
    /// - Parameters:
    ///   - directory: The RocksDB directory; created with its parents unless `reopen` is set.
    ///   - keySerializer: Serializes keys; its bytes decide each key's group.
    ///   - keyGroupRange: The key groups this backend owns. Default: all of them.
    ///   - maxParallelism: The number of key groups. Default 128.
    ///   - options: RocksDB options (block cache, write buffers, compression, statistics); WAL off by default.
    ///   - reopen: Require an existing backend there and reopen its states (their recorded serializers, TTL and
    ///     separation are checked at registration). Default `false`: create when missing.
    ///   - clock: TTL's clock (also used by the compaction filter). Default: the system clock.
    /// - Throws: `StateError` with `.locked` (another backend holds the directory), `.missing` (`reopen` and no
    ///   database), `.corruption`, `.noSpace` or `.io`.
    public static func rocksDB(
        directory: String,
        keySerializer: any StateSerializer<Key>,
        keyGroupRange: KeyGroupRange? = nil,
        maxParallelism: Int = Limits.maxParallelismDefault,
        options: RocksOptions = RocksOptions(),
        reopen: Bool = false,
        clock: any StateClock = SystemStateClock()
    ) throws(StateError) -> KeyedStateBackend<Key> {
        let store = try RocksStateStore(directory: directory, options: options, clock: clock, mustExist: reopen)
        let core = BackendCore(
            store: store, keyGroupRange: keyGroupRange ?? .all(maxParallelism: maxParallelism),
            maxParallelism: maxParallelism, clock: clock, keySchema: keySerializer.schema)
        return KeyedStateBackend(core: core, keySerializer: keySerializer, engine: .rocksDB)
    }

    /// The key groups this backend owns.
    public var keyGroupRange: KeyGroupRange { self.core.keyGroupRange }
    /// The number of key groups of the job.
    public var maxParallelism: Int { self.core.maxParallelism }
    /// The current key's group, or `nil` before the first `setCurrentKey`.
    public var currentKeyGroup: Int? { self.core.hasCurrentKey ? self.core.currentKeyGroup : nil }

    /// Makes `key` the key that every state of this backend reads and writes.
    /// - Throws: `StateError.Code.keyOutOfRange` when the key's group is not in `keyGroupRange` (the current key
    ///   is then unchanged), `.closed` after `close()`.
    public func setCurrentKey(_ key: Key) throws(StateError) {
        self.keyWriter.removeAll()
        self.keySerializer.serialize(key, into: &self.keyWriter)
        try self.core.setCurrentKey(serialized: self.keyWriter.bytes) { "\(key)".prefix(64).description }
        self.currentKey = key
    }

    /// The group of `key` under this backend's `maxParallelism` (whether or not this backend owns it).
    public func keyGroup(of key: Key) -> Int {
        KeyGroup.of(serializedKey: self.keySerializer.bytes(of: key), maxParallelism: self.core.maxParallelism)
    }

    /// Flushes and closes the storage. Further use throws `.closed`. Idempotent.
    /// - Throws: `StateError` if the final flush fails.
    public func close() throws(StateError) {
        try self.close(discarding: false)
    }

    /// Closes the backend without making what is not durable yet durable: on RocksDB with the WAL off, the
    /// memtables are dropped instead of flushed. For the state of a failed attempt that the next one rebuilds from
    /// a checkpoint; never for state that must survive.
    public func discard() {
        try? self.close(discarding: true)
    }

    private func close(discarding: Bool) throws(StateError) {
        guard !self.core.closed else { return }
        self.core.closed = true
        self.core.hasCurrentKey = false
        try self.core.store.close(discarding: discarding)
    }

    /// RocksDB's statistics (bytes written, flush/compaction/blob bytes, write amplification); `nil` on the heap.
    public func rocksStatistics() -> RocksStatistics? {
        self.core.baseStore.engine.rocks?.database.statistics()
    }

    /// The RocksDB database under this backend, for properties, flushes and checkpoints; `nil` on the heap.
    public var rocksDatabase: RocksDatabase? { self.core.baseStore.engine.rocks?.database }

    /// The metadata of every registered state.
    public var registeredStates: [StateMetadata] {
        self.core.registrations.values.map(\.metadata).sorted { $0.name < $1.name }
    }
}
