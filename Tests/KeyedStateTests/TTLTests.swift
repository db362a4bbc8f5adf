import KeyedState
import RocksKit
import StateCore
import StateTestSupport
import Testing

@Suite struct TTLTests {
    private let ttl = StateOptions(ttl: StateTTL(timeToLive: .seconds(10)))
    private let readTTL = StateOptions(ttl: StateTTL(timeToLive: .seconds(10), updateType: .onReadAndWrite))

    @Test(arguments: TestEngine.allCases)
    func expiredValuesAreNeverReturned(engine: TestEngine) throws {
        let test = try TestBackend(engine, keySerializer: .int64)
        let backend = test.backend
        let value = try backend.valueState(ValueStateDescriptor("v", serializer: .string, options: self.ttl))
        let map = try backend.mapState(
            MapStateDescriptor("m", keySerializer: .int32, valueSerializer: .string, options: self.ttl))
        let list = try backend.listState(ListStateDescriptor("l", serializer: .int64, options: self.ttl))
        try backend.setCurrentKey(1)
        try value.update("fresh")
        try map.put(1, "one")
        try list.add(1)
        test.clock.advance(by: 6_000)
        try map.put(2, "two")
        try list.add(2)
        #expect(try value.value() == "fresh")
        test.clock.advance(by: 4_000)  // 10 s after the first writes: those expired
        #expect(try value.value() == nil)
        #expect(try map.get(1) == nil)
        #expect(try map.get(2) == "two")
        #expect(try map.keys() == [2])
        #expect(try list.get() == [2])
        test.clock.advance(by: 6_000)
        #expect(try map.isEmpty())
        #expect(try list.get() == [])
    }

    @Test(arguments: TestEngine.allCases)
    func onReadAndWriteRenewsOnRead(engine: TestEngine) throws {
        let test = try TestBackend(engine, keySerializer: .int64)
        let backend = test.backend
        let value = try backend.valueState(ValueStateDescriptor("v", serializer: .int64, options: self.readTTL))
        let plain = try backend.valueState(ValueStateDescriptor("p", serializer: .int64, options: self.ttl))
        try backend.setCurrentKey(1)
        try value.update(5)
        try plain.update(5)
        for _ in 0..<5 {
            test.clock.advance(by: 8_000)
            #expect(try value.value() == 5)
        }
        #expect(try plain.value() == nil)
    }

    @Test func compactionFilterDropsExpiredEntriesFromDisk() throws {
        let test = try TestBackend(.rocksDB, keySerializer: .int64)
        let backend = test.backend
        let value = try backend.valueState(ValueStateDescriptor("v", serializer: .int64, options: self.ttl))
        let list = try backend.listState(ListStateDescriptor("l", serializer: .int64, options: self.ttl))
        for key: Int64 in 0..<100 {
            try backend.setCurrentKey(key)
            try value.update(key)
            try list.add(key)
        }
        test.clock.advance(by: 5_000)
        for key: Int64 in 0..<10 {
            try backend.setCurrentKey(key)
            try value.update(key)  // renewed: survives
            try list.add(key)  // the list keeps one live element: survives
        }
        test.clock.advance(by: 6_000)
        let database = try #require(backend.rocksDatabase)
        try database.flush()
        for name in ["state.v", "state.l"] {
            let family = try #require(database.columnFamily(named: name))
            database.compact(family)
            database.compact(family)  // the first folds list merge operands into values, the second filters them
            let iterator = RocksIterator(database: database, family: family)
            iterator.seekToFirst()
            var remaining = 0
            while iterator.isValid {
                remaining += 1
                iterator.next()
            }
            #expect(remaining == 10, "\(name)")
        }
    }

    @Test func ttlIsRecordedAndCheckedOnReopen() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.appending("db")
        do {
            let backend = try KeyedStateBackend.rocksDB(directory: path, keySerializer: .int64)
            _ = try backend.valueState(ValueStateDescriptor("v", serializer: .int64, options: self.ttl))
            try backend.close()
        }
        let backend = try KeyedStateBackend.rocksDB(directory: path, keySerializer: .int64, reopen: true)
        defer { try? backend.close() }
        let error = try #require(throws: StateError.self) {
            _ = try backend.valueState(ValueStateDescriptor("v", serializer: .int64))
        }
        #expect(error.code == .incompatibleSerializer)
        #expect(error.message.contains("TTL"))
    }
}
