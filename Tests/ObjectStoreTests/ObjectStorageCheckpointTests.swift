import Checkpointing
import Foundation
import Inspection
import KeyedState
import ObjectStore
import StateTestSupport
import Testing

/// Checkpoints on a real S3-compatible server (SeaweedFS on free local ports): every strategy round-trips
/// through `s3://`, restores into a fresh machine (empty cache, new working directory), and every fault the
/// object-storage issue names leaves the last completed checkpoint restorable.
@Suite(.serialized) struct ObjectStorageCheckpointTests {
    static let bucket = "weir-checkpoints"

    struct Setup: CustomTestStringConvertible, Sendable {
        var strategy: SnapshotStrategy
        var heap: Bool
        var testDescription: String { "\(self.strategy.kind.rawValue)/\(self.heap ? "heap" : "rocksDB")" }
        var engine: CheckpointedBackend<Int64>.Engine { self.heap ? .heap : .rocksDB() }
    }

    static let setups: [Setup] = [
        Setup(strategy: .changelog(materializationInterval: .zero, persistThreshold: 2_048), heap: false),
        Setup(strategy: .changelog(materializationInterval: .zero, persistThreshold: 2_048), heap: true),
        Setup(strategy: .incremental, heap: false),
        Setup(strategy: .full, heap: false),
    ]

    /// A file system on the server with its own cache directory (a new one is a fresh machine).
    static func fileSystem(_ server: SeaweedServer, _ scratch: TemporaryDirectory, _ name: String,
                           configuration: S3Configuration? = nil) throws -> ObjectStoreFileSystem {
        try ObjectStoreFileSystem(
            configuration: configuration ?? server.configuration,
            cache: try ObjectCache(directory: scratch.appending("cache-\(name)"), capacity: 256 << 20),
            multipartThreshold: 5 << 20, partSize: 5 << 20)
    }

    static func open(
        _ setup: Setup, _ storage: CheckpointStorage, work: String, restore: RestoreSource = .empty
    ) throws -> CheckpointedBackend<Int64> {
        try CheckpointedBackend.open(
            backendID: "op/0", storage: storage, workingDirectory: work, engine: setup.engine, keySerializer: .int64,
            strategy: setup.strategy, restore: restore)
    }

    @Test func everyStrategyRestoresFromObjectStorageOnAFreshMachine() throws {
        let server = try SeaweedServer(bucket: Self.bucket)
        defer { server.stop() }
        let scratch = TemporaryDirectory(prefix: "weir-s3")
        defer { scratch.remove() }
        for (index, setup) in Self.setups.enumerated() {
            let root = "s3://\(Self.bucket)/jobs/\(index)"
            let writer = try Self.fileSystem(server, scratch, "writer-\(index)")
            var workload = CheckpointWorkload(seed: UInt64(index + 1), valueBytes: 64 << 10 / 64)
            let atTwo: CheckpointWorkload.Model
            do {
                let storage = try CheckpointStorage(root: root, fileSystem: writer)
                defer { storage.close() }
                let backend = try Self.open(setup, storage, work: scratch.appending("work-\(index)"))
                let states = try CheckpointWorkload.register(backend.state)
                for _ in 0..<600 { try workload.step(states) }
                try backend.checkpoint(1)
                if setup.strategy.kind == .changelog { try backend.materializeNow() }
                for _ in 0..<600 { try workload.step(states) }
                try backend.checkpoint(2)
                atTwo = workload.model
                for _ in 0..<50 { try workload.step(states) }
                try backend.close()
                storage.waitForCleanup()
                // Only what checkpoint 2 references is left under the prefix.
                let shared = Set(try writer.list(root + "/shared").map { "shared/\($0)" })
                #expect(shared == (try storage.metadata(2)).referencedPaths.filter { $0.hasPrefix("shared/") })
                #expect(try writer.list(root).contains("chk-2"))
                #expect(!(try writer.list(root).contains("chk-1")))
            }
            // A second writer can never publish an id that exists: the conditional create refuses it.
            let metadataPath = root + "/chk-2/_metadata"
            let before = try writer.read(metadataPath)
            let refused = #expect(throws: CheckpointError.self) { try writer.publish([1, 2, 3], to: metadataPath) }
            #expect(refused?.code == .duplicate)
            #expect(try writer.read(metadataPath) == before)

            // A fresh machine: empty cache, new working directory.
            let reader = try Self.fileSystem(server, scratch, "reader-\(index)")
            let storage = try CheckpointStorage(root: root, fileSystem: reader)
            defer { storage.close() }
            #expect(storage.completedCheckpoints == [2], "\(setup.testDescription)")
            let restored = try Self.open(setup, storage, work: scratch.appending("restored-\(index)"), restore: .latest)
            #expect(try workload.read(try CheckpointWorkload.register(restored.state)) == atTwo, "\(setup.testDescription)")
            try restored.close()
            #expect(reader.cache.usedBytes > 0)
            let report = try CheckpointInspector(root: root, fileSystem: reader).verify()
            #expect(report.problems.isEmpty, "\(report.problems)")
            #expect(report.checkpoints == [2])
        }
    }

    @Test func faultsAbortOrRefuseAndTheLastCheckpointStaysRestorable() throws {
        let server = try SeaweedServer(bucket: Self.bucket)
        defer { server.stop() }
        let scratch = TemporaryDirectory(prefix: "weir-s3-faults")
        defer { scratch.remove() }
        let setup = Self.setups[0]
        let root = "s3://\(Self.bucket)/faults"
        var configuration = server.configuration
        configuration.requestTimeout = .milliseconds(500)
        let fileSystem = try Self.fileSystem(server, scratch, "writer", configuration: configuration)
        var workload = CheckpointWorkload(seed: 7)
        var atLast = workload.model
        do {
            let storage = try CheckpointStorage(root: root, fileSystem: fileSystem)
            defer { storage.close() }
            let backend = try Self.open(setup, storage, work: scratch.appending("work"))
            let states = try CheckpointWorkload.register(backend.state)
            for _ in 0..<400 { try workload.step(states) }
            try backend.checkpoint(1)
            atLast = workload.model

            // The server stops in the middle of a job: that checkpoint aborts with an error naming the
            // endpoint, the backend goes on, and the next checkpoint completes once the server is back.
            for _ in 0..<400 { try workload.step(states) }
            server.kill()
            let aborted = #expect(throws: CheckpointError.self) { try backend.checkpoint(2) }
            #expect(aborted?.code == .unavailable)
            #expect(aborted?.message.contains(configuration.endpoint) == true, "\(aborted?.message ?? "")")
            for _ in 0..<100 { try workload.step(states) }
            try server.start()
            try backend.checkpoint(3)
            atLast = workload.model
            #expect(storage.completedCheckpoints == [3])

            // A hanging server: the request times out, is retried, and the checkpoint completes after it resumes.
            for _ in 0..<100 { try workload.step(states) }
            server.pause()
            let resume = Thread { Thread.sleep(forTimeInterval: 0.7); server.resume() }
            resume.start()
            try backend.checkpoint(4)
            atLast = workload.model
            try backend.close()
            storage.waitForCleanup()
        }

        // The server down at restore: a clear error naming the endpoint, and nothing deleted.
        server.kill()
        let down = #expect(throws: CheckpointError.self) {
            _ = try CheckpointStorage(root: root, fileSystem: try Self.fileSystem(server, scratch, "down", configuration: configuration))
        }
        #expect(down?.code == .unavailable)
        #expect(down?.message.contains(configuration.endpoint) == true, "\(down?.message ?? "")")
        try server.start()

        // Wrong credentials and a missing bucket are named.
        var wrong = configuration
        wrong.secretAccessKey = "not-the-secret"
        let denied = #expect(throws: CheckpointError.self) {
            _ = try CheckpointStorage(root: root, fileSystem: try Self.fileSystem(server, scratch, "wrong", configuration: wrong))
        }
        #expect(denied?.message.contains("AWS_SECRET_ACCESS_KEY") == true, "\(denied?.message ?? "")")
        let noBucket = #expect(throws: CheckpointError.self) {
            _ = try CheckpointStorage(root: "s3://no-such-bucket/x", fileSystem: fileSystem)
        }
        #expect(noBucket?.message.contains("no-such-bucket") == true, "\(noBucket?.message ?? "")")

        // Everything still restores, from a fresh machine.
        let fresh = try Self.fileSystem(server, scratch, "fresh", configuration: configuration)
        do {
            let storage = try CheckpointStorage(root: root, fileSystem: fresh)
            defer { storage.close() }
            #expect(storage.completedCheckpoints == [4])
            let restored = try Self.open(setup, storage, work: scratch.appending("restored"), restore: .latest)
            #expect(try workload.read(try CheckpointWorkload.register(restored.state)) == atLast)
            try restored.close()
        }

        // An object changed behind Weir's back: verify names the CRC mismatch and restore refuses it.
        let metadata = try CheckpointInspector(root: root, fileSystem: fresh).verify()
        #expect(metadata.problems.isEmpty, "\(metadata.problems)")
        let inspector = try CheckpointInspector(root: root, fileSystem: fresh)
        let handle = try inspector.metadata(4).backends[0]
        let victim = (handle.materialization?.files.map(\.path) ?? []) + handle.changelog.map(\.file.path)
        let path = try #require(victim.first)
        let client = S3Client(configuration)
        let key = "faults/\(path)"
        let original = try client.get(bucket: Self.bucket, key: key)
        var bytes = original
        bytes[bytes.count / 2] ^= 0x40
        try client.put(bucket: Self.bucket, key: key, bytes: bytes)
        let report = try CheckpointInspector(root: root, fileSystem: fresh).verify()
        #expect(report.problems.contains { $0.path?.hasSuffix(path) == true }, "\(report.problems)")
        let other = try Self.fileSystem(server, scratch, "other", configuration: configuration)
        let storage = try CheckpointStorage(root: root, fileSystem: other)
        defer { storage.close() }
        let refused = #expect(throws: CheckpointError.self) {
            _ = try Self.open(setup, storage, work: scratch.appending("refused"), restore: .latest)
        }
        #expect(refused?.code == .corrupt, "\(refused?.message ?? "")")
        #expect(storage.completedCheckpoints == [4])

        // `missing` answers from one listing per folder of more than two paths, and one by one otherwise: files,
        // folders and absent names alike.
        let shared = try fresh.list(root + "/shared").map { "\(root)/shared/\($0)" }
        #expect(shared.count > 2)
        let asked = shared + ["\(root)/shared/nope-1", "\(root)/chk-4", "\(root)/shared", "\(root)/nope-2",
                              "\(root)/chk-4/_metadata", "\(root)/chk-4/nope-3", "\(root)/shared/nope-4"]
        #expect(fresh.missing(asked) == ["\(root)/shared/nope-1", "\(root)/nope-2", "\(root)/chk-4/nope-3",
                                         "\(root)/shared/nope-4"])

        // An object deleted behind Weir's back: restore names it as missing, and the checkpoint stays listed.
        try client.put(bucket: Self.bucket, key: key, bytes: original)
        let segment = try #require(handle.changelog.map(\.file.path).last { $0 != path })
        try client.delete(bucket: Self.bucket, key: "faults/\(segment)")
        let gone = try CheckpointStorage(root: root, fileSystem: try Self.fileSystem(server, scratch, "gone"))
        defer { gone.close() }
        let lost = #expect(throws: CheckpointError.self) {
            _ = try Self.open(setup, gone, work: scratch.appending("gone"), restore: .latest)
        }
        #expect(lost?.code == .missing && lost?.message.contains(segment) == true, "\(lost?.message ?? "")")
        #expect(gone.completedCheckpoints == [4])
    }
}
