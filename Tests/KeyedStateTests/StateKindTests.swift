import KeyedState
import RocksKit
import StateCore
import StateTestSupport
import Testing

@Suite struct StateKindTests {
    @Test(arguments: TestEngine.allCases)
    func valueStateIsPerKeyAndNamespace(engine: TestEngine) throws {
        let test = try TestBackend(engine, keySerializer: .string)
        let backend = test.backend
        let state = try backend.valueState(
            ValueStateDescriptor("v", serializer: .int64), namespaceSerializer: .int32, namespace: Int32(0))
        try backend.setCurrentKey("a")
        #expect(try state.value() == nil)
        try state.update(1)
        state.setCurrentNamespace(7)
        #expect(try state.value() == nil)
        try state.update(70)
        try backend.setCurrentKey("b")
        #expect(try state.value() == nil)
        try state.update(2)
        try backend.setCurrentKey("a")
        #expect(try state.value() == 70)
        state.setCurrentNamespace(0)
        #expect(try state.value() == 1)
        try state.update(nil)
        #expect(try state.value() == nil)
        try backend.setCurrentKey("b")
        state.setCurrentNamespace(0)
        #expect(try state.value() == nil)
        state.setCurrentNamespace(7)  // "b" was written while the namespace was 7
        #expect(try state.value() == 2)
        try state.clear()
        #expect(try state.value() == nil)
    }

    @Test(arguments: TestEngine.allCases)
    func listStateAppendsAndReplaces(engine: TestEngine) throws {
        let test = try TestBackend(engine, keySerializer: .int64)
        let backend = test.backend
        let list = try backend.listState(ListStateDescriptor("l", serializer: .string))
        try backend.setCurrentKey(1)
        #expect(try list.get() == [])
        try list.add("x")
        try list.add(contentsOf: ["y", "z"])
        #expect(try list.get() == ["x", "y", "z"])
        try backend.setCurrentKey(2)
        #expect(try list.get() == [])
        try list.update(["only"])
        try list.add("more")
        #expect(try list.get() == ["only", "more"])
        try backend.setCurrentKey(1)
        try list.update([])
        #expect(try list.get() == [])
        try list.add("again")
        #expect(try list.get() == ["again"])
        try list.clear()
        #expect(try list.get() == [])
    }

    @Test(arguments: TestEngine.allCases)
    func mapStateSupportsEveryOperation(engine: TestEngine) throws {
        let test = try TestBackend(engine, keySerializer: .int64)
        let backend = test.backend
        let map = try backend.mapState(
            MapStateDescriptor("m", keySerializer: .string, valueSerializer: .int64), namespaceSerializer: .string,
            namespace: "w1")
        try backend.setCurrentKey(10)
        #expect(try map.isEmpty())
        try map.put("a", 1)
        try map.putAll([("b", 2), ("c", 3)])
        #expect(try map.get("b") == 2)
        #expect(try map.contains("c"))
        #expect(try !map.contains("d"))
        #expect(try Set(map.keys()) == ["a", "b", "c"])
        #expect(try map.values().sorted() == [1, 2, 3])
        try map.remove("b")
        #expect(try map.get("b") == nil)
        #expect(try Dictionary(uniqueKeysWithValues: map.entries().map { ($0.key, $0.value) }) == ["a": 1, "c": 3])
        // Other namespaces and keys, including a key whose bytes extend this one's, stay apart.
        map.setCurrentNamespace("w")
        #expect(try map.isEmpty())
        try map.put("z", 26)
        try backend.setCurrentKey(11)
        #expect(try map.isEmpty())
        try backend.setCurrentKey(10)
        map.setCurrentNamespace("w1")
        var visited = 0
        try map.forEach { _, _ in
            visited += 1
            return false
        }
        #expect(visited == 1)
        try map.clear()
        #expect(try map.isEmpty())
        map.setCurrentNamespace("w")
        #expect(try map.get("z") == 26)
    }

    @Test(arguments: TestEngine.allCases)
    func reducingStateFolds(engine: TestEngine) throws {
        let test = try TestBackend(engine, keySerializer: .int64)
        let backend = test.backend
        let sum = try backend.reducingState(ReducingStateDescriptor("sum", serializer: .int64) { $0 + $1 })
        try backend.setCurrentKey(1)
        #expect(try sum.get() == nil)
        for i in 1...10 { try sum.add(Int64(i)) }
        #expect(try sum.get() == 55)
        try sum.clear()
        #expect(try sum.get() == nil)
    }

    @Test(arguments: TestEngine.allCases)
    func aggregatingStateFolds(engine: TestEngine) throws {
        let test = try TestBackend(engine, keySerializer: .int64)
        let backend = test.backend
        let average = try backend.aggregatingState(
            AggregatingStateDescriptor(
                "avg", function: AverageFunction(), accumulatorSerializer: ArraySerializer(IntegerSerializer<Int64>())))
        try backend.setCurrentKey(3)
        #expect(try average.get() == nil)
        for value: Int64 in [2, 4, 6, 8] { try average.add(value) }
        #expect(try average.get() == 5.0)
    }

    @Test(arguments: TestEngine.allCases)
    func builtInSerializersRoundTripThroughState(engine: TestEngine) throws {
        let test = try TestBackend(engine, keySerializer: .int64)
        let backend = test.backend
        try backend.setCurrentKey(1)
        let double = try backend.valueState(ValueStateDescriptor("d", serializer: .double))
        try double.update(-1.5e300)
        #expect(try double.value() == -1.5e300)
        let bool = try backend.valueState(ValueStateDescriptor("b", serializer: .bool))
        try bool.update(true)
        #expect(try bool.value() == true)
        let optional = try backend.valueState(ValueStateDescriptor("o", serializer: OptionalSerializer(StringSerializer())))
        try optional.update(.some(nil))
        #expect(try optional.value() == .some(nil))
        let bytes = try backend.valueState(ValueStateDescriptor("bytes", serializer: .bytes))
        try bytes.update([0, 255, 7])
        #expect(try bytes.value() == [0, 255, 7])
        struct Order: Codable, Equatable { var id: Int; var items: [String] }
        let codable = try backend.valueState(ValueStateDescriptor("order", serializer: CodableSerializer<Order>()))
        try codable.update(Order(id: 9, items: ["a", "b"]))
        #expect(try codable.value() == Order(id: 9, items: ["a", "b"]))
        let float = try backend.valueState(ValueStateDescriptor("f", serializer: .float))
        try float.update(3.25)
        #expect(try float.value() == 3.25)
    }

    @Test func keyGroupsAreContiguousPrefixesInRocksDB() throws {
        let test = try TestBackend(.rocksDB, keySerializer: .int64)
        let backend = test.backend
        let state = try backend.valueState(ValueStateDescriptor("v", serializer: .int64))
        for key: Int64 in 0..<200 {
            try backend.setCurrentKey(key)
            try state.update(key)
        }
        let database = try #require(backend.rocksDatabase)
        let family = try #require(database.columnFamily(named: "state.v"))
        let iterator = RocksIterator(database: database, family: family)
        iterator.seekToFirst()
        var previousGroup = -1
        var count = 0
        while iterator.isValid {
            let key = iterator.key
            let group = Int(key[0]) << 8 | Int(key[1])
            #expect(group >= previousGroup)
            var serializedKey = Array(key[2...])
            let stored = try IntegerSerializer<Int64>().value(from: serializedKey)
            #expect(backend.keyGroup(of: stored) == group)
            serializedKey.removeAll()
            previousGroup = group
            count += 1
            iterator.next()
        }
        #expect(count == 200)
    }
}
