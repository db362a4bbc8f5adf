@testable import Checkpointing
import Foundation
@testable import KeyedState
import StateCore
import Testing

/// Files of each format version, kept in `Golden/`: later versions of Weir must keep reading them. Regenerate
/// (only when adding a version) with `WEIR_WRITE_GOLDEN=1 swift test --filter GoldenFormatTests`.
@Suite struct GoldenFormatTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Golden"
    static var writing: Bool { ProcessInfo.processInfo.environment["WEIR_WRITE_GOLDEN"] == "1" }

    static let state = StateMetadata(
        name: "count", kind: .value, keySchema: SerializerSchema(name: "weir.int64", version: 1),
        namespaceSchema: SerializerSchema(name: "weir.void", version: 1),
        valueSchema: SerializerSchema(name: "weir.int64", version: 1), userKeySchema: nil, ttl: nil,
        valueSeparation: nil)

    static let section = ChangelogSegment.Section(backendID: "op/0", firstSQN: 40, count: 2, payload: {
        var writer = ByteWriter()
        ChangelogSegment.appendRecord(1, column: 0, key: [0, 7, 1], primaryLength: 3, value: [9, 9], to: &writer)
        ChangelogSegment.appendRecord(3, column: 0, key: [0, 7, 1], primaryLength: 3, value: [], to: &writer)
        return writer.bytes
    }())

    static func metadata(segmentBytes: [UInt8]) -> CheckpointMetadata {
        let file = StoredFile(path: "shared/golden-changelog.wcl", size: segmentBytes.count, crc32c: CRC32C.checksum(segmentBytes))
        let handle = BackendStateHandle(
            backendID: "op/0", strategy: .changelog, engine: "rocksDB", keyGroups: KeyGroupRange(start: 0, end: 128),
            maxParallelism: 128, keySchema: SerializerSchema(name: "weir.int64", version: 1), states: [Self.state],
            sqn: 42, materialization: nil,
            changelog: [ChangelogSectionHandle(file: file, offset: 20, length: segmentBytes.count - 20, firstSQN: 40, count: 2)])
        return CheckpointMetadata(checkpointID: 7, timestampMilliseconds: 1_790_000_000_000, backends: [handle])
    }

    private func golden(_ name: String, _ bytes: [UInt8]) throws -> [UInt8] {
        let path = "\(Self.directory)/\(name)"
        if Self.writing { try LocalFileSystem().write(bytes, to: path, sync: false) }
        return try LocalFileSystem().read(path)
    }

    @Test func changelogSegmentVersion1() throws {
        let (encoded, ranges) = ChangelogSegment.encode([Self.section])
        let bytes = try self.golden("changelog-v1.wcl", encoded)
        #expect(bytes == encoded, "the writer's version-1 bytes changed: add a version instead")
        let handle = ChangelogSectionHandle(
            file: StoredFile(path: "x", size: bytes.count, crc32c: 0), offset: ranges[0].offset,
            length: ranges[0].length, firstSQN: 40, count: 2)
        var records: [ChangelogSegment.Record] = []
        try ChangelogSegment.records(
            ofSection: Array(bytes[ranges[0].offset...]), handle: handle, backendID: "op/0", path: "golden"
        ) { records.append($0) }
        #expect(records.map(\.sqn) == [40, 41])
        #expect(records.map(\.kind) == [.put, .delete])
        #expect(records[0].value == [9, 9] && records[0].key == [0, 7, 1])
    }

    @Test func checkpointMetadataVersion1() throws {
        let segment = ChangelogSegment.encode([Self.section]).bytes
        let encoded = Self.metadata(segmentBytes: segment).encoded()
        let bytes = try self.golden("metadata-v1", encoded)
        #expect(try CheckpointMetadata.decode(bytes, path: "golden") == Self.metadata(segmentBytes: segment))
    }

    @Test func stateSnapshotVersion1() throws {
        let scratch = Scratch()
        let path = scratch.directory.appending("snapshot.wsnap")
        let header = StateSnapshotFile.Header(
            backendID: "op/0", engine: "heap", keyGroups: KeyGroupRange(start: 0, end: 128), maxParallelism: 128,
            keySchema: SerializerSchema(name: "weir.int64", version: 1), states: [Self.state], sqn: 42)
        var writer = try StateSnapshotFile.Writer(fileSystem: LocalFileSystem(), path: path, header: header)
        for key in UInt8(0)..<3 {
            try ByteReader.withReader(over: [0, key, 5]) { k in
                try ByteReader.withReader(over: [key, key]) { v in try writer.add(column: 0, key: k, primaryLength: 3, value: v) }
            }
        }
        _ = try writer.finish()
        let encoded = try LocalFileSystem().read(path)
        let bytes = try self.golden("snapshot-v1.wsnap", encoded)
        #expect(bytes == encoded)
        var entries: [[UInt8]] = []
        var decodedHeader: StateSnapshotFile.Header?
        try StateSnapshotFile.read(bytes, path: "golden") { decodedHeader = $0 } entry: { _, key, primary, value in
            #expect(primary == 3)
            entries.append(key + value)
        }
        #expect(decodedHeader == header)
        #expect(entries == [[0, 0, 5, 0, 0], [0, 1, 5, 1, 1], [0, 2, 5, 2, 2]])
    }
}
