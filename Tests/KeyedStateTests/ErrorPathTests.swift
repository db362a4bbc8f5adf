import KeyedState
import RocksKit
import StateCore
import StateTestSupport
import Testing

@Suite struct ErrorPathTests {
    @Test(arguments: TestEngine.allCases)
    func keyOutsideRangeIsRejectedAndKeepsCurrentKey(engine: TestEngine) throws {
        let range = KeyGroupRange(start: 0, end: 64)
        let test = try TestBackend(engine, keySerializer: .int64, keyGroupRange: range)
        let backend = test.backend
        let inside = try #require((Int64(0)..<1_000).first { range.contains(backend.keyGroup(of: $0)) })
        let outside = try #require((Int64(0)..<1_000).first { !range.contains(backend.keyGroup(of: $0)) })
        try backend.setCurrentKey(inside)
        let error = try #require(throws: StateError.self) { try backend.setCurrentKey(outside) }
        #expect(error.code == .keyOutOfRange)
        #expect(error.message.contains("key group \(backend.keyGroup(of: outside))"))
        #expect(error.message.contains("[0, 64)"))
        #expect(backend.currentKey == inside)
    }

    @Test(arguments: TestEngine.allCases)
    func registeringTwiceWithAnotherKindOrSerializerFails(engine: TestEngine) throws {
        let test = try TestBackend(engine, keySerializer: .int64)
        let backend = test.backend
        _ = try backend.valueState(ValueStateDescriptor("s", serializer: .int64))
        _ = try backend.valueState(ValueStateDescriptor("s", serializer: .int64))  // same: fine
        let kind = try #require(throws: StateError.self) {
            _ = try backend.listState(ListStateDescriptor("s", serializer: .int64))
        }
        #expect(kind.code == .incompatibleRegistration)
        #expect(kind.message.contains("kind value vs list"))
        let serializer = try #require(throws: StateError.self) {
            _ = try backend.valueState(ValueStateDescriptor("s", serializer: .string))
        }
        #expect(serializer.code == .incompatibleRegistration)
        #expect(serializer.message.contains("weir.int64@1 vs weir.string@1"))
    }

    @Test(arguments: TestEngine.allCases)
    func stateWithoutCurrentKeyThrows(engine: TestEngine) throws {
        let test = try TestBackend(engine, keySerializer: .int64)
        let state = try test.backend.valueState(ValueStateDescriptor("v", serializer: .int64))
        let error = try #require(throws: StateError.self) { _ = try state.value() }
        #expect(error.code == .noCurrentKey)
    }

    @Test(arguments: ["", "bad/name", String(repeating: "x", count: 201)])
    func badStateNamesAreRejected(name: String) throws {
        let backend = KeyedStateBackend.heap(keySerializer: .int64)
        let error = try #require(throws: StateError.self) {
            _ = try backend.valueState(ValueStateDescriptor(name, serializer: .int64))
        }
        #expect(error.code == .invalidArgument)
    }

    @Test(arguments: TestEngine.allCases)
    func useAfterCloseThrows(engine: TestEngine) throws {
        let test = try TestBackend(engine, keySerializer: .int64)
        let state = try test.backend.valueState(ValueStateDescriptor("v", serializer: .int64))
        try test.backend.setCurrentKey(1)
        try test.backend.close()
        #expect(throws: StateError.self) { try test.backend.setCurrentKey(1) }
        let error = try #require(throws: StateError.self) { try state.update(1) }
        #expect(error.code == .closed)
    }

    @Test func lockedDirectoryNamesThePath() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.appending("db")
        let first = try KeyedStateBackend.rocksDB(directory: path, keySerializer: .int64)
        defer { try? first.close() }
        let error = try #require(throws: StateError.self) {
            _ = try KeyedStateBackend.rocksDB(directory: path, keySerializer: .int64)
        }
        #expect(error.code == .locked)
        #expect(error.message.contains(path))
    }

    @Test func reopeningAMissingDirectoryIsMissing() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let error = try #require(throws: StateError.self) {
            _ = try KeyedStateBackend.rocksDB(directory: directory.appending("nope"), keySerializer: .int64, reopen: true)
        }
        #expect(error.code == .missing)
        #expect(error.message.contains("nope"))
    }

    @Test func reopenKeepsStateAndRefusesAnotherSerializerBeforeReading() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.appending("db")
        do {
            let backend = try KeyedStateBackend.rocksDB(directory: path, keySerializer: .int64)
            let count = try backend.valueState(ValueStateDescriptor("count", serializer: .int64))
            let list = try backend.listState(ListStateDescriptor("events", serializer: .string))
            try backend.setCurrentKey(7)
            try count.update(41)
            try list.add("a")
            try backend.close()
        }
        let backend = try KeyedStateBackend.rocksDB(directory: path, keySerializer: .int64, reopen: true)
        defer { try? backend.close() }
        let wrong = try #require(throws: StateError.self) {
            _ = try backend.valueState(ValueStateDescriptor("count", serializer: .string))
        }
        #expect(wrong.code == .incompatibleSerializer)
        #expect(wrong.message.contains("weir.int64@1 vs weir.string@1"))
        let count = try backend.valueState(ValueStateDescriptor("count", serializer: .int64))
        let list = try backend.listState(ListStateDescriptor("events", serializer: .string))
        try backend.setCurrentKey(7)
        #expect(try count.value() == 41)
        try list.add("b")  // the merge operator is back after reopening
        #expect(try list.get() == ["a", "b"])
    }

    @Test func wrongKeySerializerOnReopenIsRefused() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.appending("db")
        do {
            let backend = try KeyedStateBackend.rocksDB(directory: path, keySerializer: .int64)
            _ = try backend.valueState(ValueStateDescriptor("count", serializer: .int64))
            try backend.close()
        }
        let backend = try KeyedStateBackend.rocksDB(directory: path, keySerializer: .string, reopen: true)
        defer { try? backend.close() }
        let error = try #require(throws: StateError.self) {
            _ = try backend.valueState(ValueStateDescriptor("count", serializer: .int64))
        }
        #expect(error.code == .incompatibleSerializer)
        #expect(error.message.contains("key serializer"))
    }

    @Test(arguments: TestEngine.allCases)
    func undecodableValueIsCorruptValueNotATrap(engine: TestEngine) throws {
        let test = try TestBackend(engine, keySerializer: .int64)
        let backend = test.backend
        // Write with one serializer, read with a narrower one under the same schema name.
        struct Narrow: StateSerializer {
            var schema: SerializerSchema { SerializerSchema(name: "weir.bool", version: 1) }
            func serialize(_ value: Bool, into writer: inout ByteWriter) { writer.writeUInt8(7) }
            func deserialize(from reader: inout ByteReader) throws(SerializationError) -> Bool {
                try BoolSerializer().deserialize(from: &reader)
            }
        }
        let state = try backend.valueState(ValueStateDescriptor("b", serializer: Narrow()))
        try backend.setCurrentKey(1)
        try state.update(true)
        let error = try #require(throws: StateError.self) { _ = try state.value() }
        #expect(error.code == .corruptValue)
        #expect(error.message.contains("state 'b'"))
        #expect(error.message.contains("key group \(backend.keyGroup(of: 1))"))
    }
}
