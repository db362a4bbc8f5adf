import StateCore

/// The part of a keyed state backend its states share: the store, the current key (as bytes), the registry of
/// states and reusable scratch buffers. One owner thread uses it; nothing here is synchronized.
/// `KeyedStateBackend<Key>` is a thin generic shell over it.
///
/// Invariants:
/// 1. `hasCurrentKey` implies `currentPrefix` is `keyGroup (2 bytes, big-endian) ‖ serialized key` and
///    `keyGroupRange.contains(currentKeyGroup)`.
/// 2. `columns[name]` exists for every registered state, with the metadata it was registered with.
///
/// The hot fields skip Swift's dynamic exclusivity checks (`@exclusivity(unchecked)`): they are touched only by
/// the owner thread and never across a call that could reenter (each access completes before the store is called).
final class BackendCore {
    /// The store; wrapped in a `ChangeLoggingStore` once a changelog is attached.
    private(set) var store: any StateStore
    /// The store without the changelog: restore and replay write here, so they are not logged again.
    private(set) var baseStore: any StateStore
    let keyGroupRange: KeyGroupRange
    let maxParallelism: Int
    let clock: any StateClock
    let keySchema: SerializerSchema

    @exclusivity(unchecked) var hasCurrentKey = false
    @exclusivity(unchecked) var currentKeyGroup = -1
    @exclusivity(unchecked) var currentPrefix: [UInt8] = []
    @exclusivity(unchecked) var closed = false
    var registrations: [String: (metadata: StateMetadata, column: Int)] = [:]
    /// States opened by a restore that the job has not registered yet: their first registration may change the
    /// value separation (a storage setting) and supplies the serializers.
    var restoredOnly: Set<String> = []

    /// Scratch for the composite key of the access in progress.
    @exclusivity(unchecked) var keyScratch = ByteWriter(capacity: 256)
    /// Scratch for the value of the access in progress.
    @exclusivity(unchecked) var valueScratch = ByteWriter(capacity: 4_096)
    /// Scratch for one list element before it is framed.
    @exclusivity(unchecked) var elementScratch = ByteWriter(capacity: 256)

    init(
        store: any StateStore, keyGroupRange: KeyGroupRange, maxParallelism: Int, clock: any StateClock,
        keySchema: SerializerSchema
    ) {
        precondition(maxParallelism > 0 && maxParallelism <= Limits.maxParallelismMax, "maxParallelism out of range")
        precondition(keyGroupRange.end <= maxParallelism, "key-group range \(keyGroupRange) exceeds maxParallelism")
        self.store = store
        self.baseStore = store
        self.keyGroupRange = keyGroupRange
        self.maxParallelism = maxParallelism
        self.clock = clock
        self.keySchema = keySchema
    }

    /// Sets the current key from its serialized bytes.
    func setCurrentKey(serialized key: [UInt8], describe: () -> String) throws(StateError) {
        try self.checkOpen()
        let group = KeyGroup.of(serializedKey: key, maxParallelism: self.maxParallelism)
        guard self.keyGroupRange.contains(group) else {
            throw StateError(
                code: .keyOutOfRange,
                message: "key \(describe()) belongs to key group \(group), outside this backend's range "
                    + "\(self.keyGroupRange) (maxParallelism \(self.maxParallelism)). Route records to the subtask "
                    + "that owns the key group (keyBy), or give this backend the range that holds it.")
        }
        self.currentKeyGroup = group
        self.currentPrefix.removeAll(keepingCapacity: true)
        self.currentPrefix.append(UInt8(truncatingIfNeeded: group >> 8))
        self.currentPrefix.append(UInt8(truncatingIfNeeded: group))
        self.currentPrefix.append(contentsOf: key)
        self.hasCurrentKey = true
    }

    /// Routes every later change through `sink` as well.
    func attach(_ sink: any StateChangeSink) {
        self.store = ChangeLoggingStore(inner: self.baseStore, sink: sink)
    }

    func checkOpen() throws(StateError) {
        if self.closed { throw StateError(code: .closed, message: "the keyed state backend was used after close()") }
    }

    /// Registers a state, or checks a repeated registration against the first, and returns its column.
    func register(_ metadata: StateMetadata) throws(StateError) -> Int {
        try self.checkOpen()
        if let existing = self.registrations[metadata.name] {
            var recorded = existing.metadata
            if self.restoredOnly.contains(metadata.name) { recorded.valueSeparation = metadata.valueSeparation }
            let differences = metadata.differences(from: recorded)
            guard differences.isEmpty else {
                throw StateError(
                    code: .incompatibleRegistration,
                    message: "state '\(metadata.name)' is already registered with "
                        + differences.joined(separator: ", ") + " (registered vs now). "
                        + "Give the new state another name, or register it as it was.",
                    stateName: metadata.name)
            }
            if self.restoredOnly.remove(metadata.name) != nil {
                self.registrations[metadata.name] = (metadata, existing.column)
            }
            return existing.column
        }
        try Self.validateName(metadata.name)
        guard self.registrations.count < Limits.statesPerBackendMax else {
            throw StateError(
                code: .invalidArgument,
                message: "cannot register state '\(metadata.name)': a backend holds at most "
                    + "\(Limits.statesPerBackendMax) states", stateName: metadata.name)
        }
        if let persisted = self.store.persistedMetadata(named: metadata.name) {
            let differences = metadata.differences(from: persisted)
            guard differences.isEmpty else {
                throw StateError(
                    code: .incompatibleSerializer,
                    message: "state '\(metadata.name)' was stored with " + differences.joined(separator: ", ")
                        + " (stored vs now); nothing was read or changed. Register it with the stored serializers "
                        + "and options, or migrate the state through a savepoint.",
                    stateName: metadata.name)
            }
        }
        let column = try self.store.openColumn(metadata)
        self.registrations[metadata.name] = (metadata, column)
        return column
    }

    static func validateName(_ name: String) throws(StateError) {
        guard !name.isEmpty, name.utf8.count <= Limits.stateNameBytesMax else {
            throw StateError(
                code: .invalidArgument,
                message: "state name '\(name)' must be 1 to \(Limits.stateNameBytesMax) bytes", stateName: name)
        }
        let allowed = name.unicodeScalars.allSatisfy {
            ($0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil)) || "-_.".unicodeScalars.contains($0)
        }
        guard allowed else {
            throw StateError(
                code: .invalidArgument,
                message: "state name '\(name)' may hold only ASCII letters, digits, '-', '_' and '.' "
                    + "(it names a RocksDB column family and files)", stateName: name)
        }
    }
}
