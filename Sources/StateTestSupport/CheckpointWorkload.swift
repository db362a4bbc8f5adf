import KeyedState
import StateCore

/// A seeded stream of state changes applied both to a backend (value, list and map state of `Int64` keys) and to
/// a reference model, so a test can check that a restored backend holds exactly what the model held.
public struct CheckpointWorkload: Sendable {
    /// What the states should hold.
    public struct Model: Sendable, Equatable {
        /// Value state `count` per key.
        public var values: [Int64: Int64] = [:]
        /// List state `events` per key.
        public var lists: [Int64: [Int64]] = [:]
        /// Map state `tags` per key.
        public var maps: [Int64: [Int64: String]] = [:]
        /// An empty model.
        public init() {}
    }

    /// The workload's states on one backend.
    public struct States {
        /// The backend.
        public let backend: KeyedStateBackend<Int64>
        public let value: ValueState<Int64, VoidNamespace>
        public let list: ListState<Int64, VoidNamespace>
        public let map: MapState<Int64, String, VoidNamespace>
    }

    /// The model after every step so far.
    public private(set) var model = Model()
    /// Steps taken.
    public private(set) var steps = 0
    private var generator: SeededGenerator
    private let keys: Int64
    private let valueBytes: Int

    /// A workload over `keys` keys; map values are about `valueBytes` long.
    public init(seed: UInt64, keys: Int64 = 64, valueBytes: Int = 16) {
        self.generator = SeededGenerator(seed: seed)
        self.keys = keys
        self.valueBytes = valueBytes
    }

    /// Registers the workload's states.
    public static func register(_ backend: KeyedStateBackend<Int64>) throws(StateError) -> States {
        States(
            backend: backend,
            value: try backend.valueState(ValueStateDescriptor("count", serializer: .int64)),
            list: try backend.listState(ListStateDescriptor("events", serializer: .int64)),
            map: try backend.mapState(MapStateDescriptor("tags", keySerializer: .int64, valueSerializer: .string)))
    }

    /// Applies one random change to the states and the model.
    public mutating func step(_ states: States) throws(StateError) {
        let key = Int64.random(in: 0..<self.keys, using: &self.generator)
        let roll = Int.random(in: 0..<100, using: &self.generator)
        let number = Int64.random(in: 0..<1_000, using: &self.generator)
        try states.backend.setCurrentKey(key)
        switch roll {
        case 0..<40:
            let next = (self.model.values[key] ?? 0) + number
            try states.value.update(next)
            self.model.values[key] = next
        case 40..<45:
            try states.value.clear()
            self.model.values[key] = nil
        case 45..<70:
            try states.list.add(number)
            self.model.lists[key, default: []].append(number)
        case 70..<72:
            try states.list.clear()
            self.model.lists[key] = nil
        case 72..<92:
            let text = String(repeating: "x", count: Int(number) % self.valueBytes) + "\(number)"
            try states.map.put(number % 16, text)
            self.model.maps[key, default: [:]][number % 16] = text
        case 92..<97:
            try states.map.remove(number % 16)
            self.model.maps[key]?[number % 16] = nil
            if self.model.maps[key]?.isEmpty == true { self.model.maps[key] = nil }
        default:
            try states.map.clear()
            self.model.maps[key] = nil
        }
        self.steps += 1
    }

    /// Reads every key's states back into a model.
    public func read(_ states: States) throws(StateError) -> Model {
        var model = Model()
        for key in 0..<self.keys {
            try states.backend.setCurrentKey(key)
            if let value = try states.value.value() { model.values[key] = value }
            let list = try states.list.get()
            if !list.isEmpty { model.lists[key] = list }
            var entries: [Int64: String] = [:]
            for (userKey, value) in try states.map.entries() { entries[userKey] = value }
            if !entries.isEmpty { model.maps[key] = entries }
        }
        return model
    }
}
