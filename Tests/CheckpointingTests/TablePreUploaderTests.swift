@testable import Checkpointing
import Foundation
import KeyedState
import StateCore
import StateTestSupport
import Testing

/// The incremental strategy uploads compaction output between checkpoints: the next checkpoint claims it instead
/// of uploading it, restores exactly, and a pre-upload no checkpoint took (its table compacted away first) is
/// collected, so the root ends with exactly the files its checkpoints reference.
@Suite struct TablePreUploaderTests {
    /// Writes `keys` random values of 1 KiB (from `generator`) to the backend and the model, then flushes.
    static func round(
        _ backend: CheckpointedBackend<Int64>, _ state: ValueState<[UInt8], VoidNamespace>, keys: Range<Int64>,
        _ model: inout [Int64: [UInt8]], _ generator: inout SeededGenerator
    ) throws {
        for key in keys {
            try backend.state.setCurrentKey(key)
            let value = (0..<1_024).map { _ in UInt8.random(in: 0...255, using: &generator) }
            try state.update(value)
            model[key] = value
        }
        try #require(backend.state.rocksDatabase).flush()
    }

    /// Waits (at most 20 s) until `condition` holds.
    static func eventually(_ condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + .seconds(20)
        while !condition() && ContinuousClock.now < deadline { usleep(10_000) }
        return condition()
    }

    @Test func compactionOutputIsUploadedBeforeTheCheckpointAndNothingLeaks() throws {
        let scratch = Scratch()
        var generator = SeededGenerator(seed: 17)
        var model: [Int64: [UInt8]] = [:]
        let storage = try CheckpointStorage(root: scratch.root, retained: 1)
        defer { storage.close() }
        do {
            let backend = try CheckpointedBackend<Int64>.open(
                backendID: "op/0", storage: storage, workingDirectory: scratch.work, keySerializer: .int64,
                strategy: .incremental)
            let state = try backend.state.valueState(ValueStateDescriptor("value", serializer: .bytes))
            try backend.checkpoint(1)  // starts the uploader (an empty database: nothing to upload)
            let uploader = try #require(backend.preUploader)
            // Four flushes of ~1.5 MB: RocksDB compacts them into L1 by itself, between checkpoints.
            for _ in 0..<4 { try Self.round(backend, state, keys: 0..<1_500, &model, &generator) }
            backend.state.rocksDatabase?.waitForBackgroundWork()
            let database = try #require(backend.state.rocksDatabase)
            let large = database.liveFiles().filter { $0.level > 0 && $0.size >= 1 << 20 }.map { TablePreUploader.key($0.name, $0.size) }
            #expect(database.liveFiles().contains { $0.level > 0 && $0.size >= 1 << 20 }, "the flushes were compacted")
            #expect(Self.eventually { uploader.uploadedKeys.isSuperset(of: large) }, "the compaction output was uploaded early")
            try backend.checkpoint(2)
            #expect(uploader.claimedBytes > 1 << 20, "checkpoint 2 took the early upload instead of uploading again")
            let two = try #require(storage.latest)
            #expect(two.backends[0].materialization?.files.contains { $0.size > 1 << 20 } == true)

            // More compactions without a checkpoint: the tables uploaded early are replaced before any checkpoint
            // takes them, so those uploads are garbage, and checkpoint 3 subsumes 2 (retained 1).
            let before = uploader.uploadedBytes
            for round in 0..<8 {
                try Self.round(backend, state, keys: Int64(round % 2) * 750..<Int64(round % 2) * 750 + 1_500, &model, &generator)
                backend.state.rocksDatabase?.waitForBackgroundWork()
            }
            #expect(Self.eventually { uploader.uploadedBytes > before })
            try backend.checkpoint(3)
            try backend.close()
        }
        storage.waitForCleanup()
        let latest = try #require(storage.latest)
        #expect(latest.checkpointID == 3)
        let shared = Set(try FileManager.default.contentsOfDirectory(atPath: scratch.root + "/shared").map { "shared/\($0)" })
        #expect(shared == latest.referencedPaths.filter { $0.hasPrefix("shared/") }, "only what checkpoint 3 references is left")

        // Restores exactly, from the root alone.
        try FileManager.default.removeItem(atPath: scratch.work)
        let restored = try CheckpointedBackend<Int64>.open(
            backendID: "op/0", storage: storage, workingDirectory: scratch.work, keySerializer: .int64,
            strategy: .incremental, restore: .latest)
        defer { try? restored.close() }
        let state = try restored.state.valueState(ValueStateDescriptor("value", serializer: .bytes))
        for (key, value) in model.sorted(by: { $0.key < $1.key }) {
            try restored.state.setCurrentKey(key)
            guard try state.value() == value else {
                Issue.record("key \(key) differs after the restore")
                break
            }
        }
    }
}
