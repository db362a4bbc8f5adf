import Checkpointing
import Foundation
import KeyedState
import ObjectStore
import StateCore
import StateTestSupport
import Testing

/// Object-storage faults on the wire (`FaultInjectingS3Proxy` in front of a real SeaweedFS): HTTP 500 and 503
/// SlowDown, connection resets before and after the server acted, bodies cut off, latency spikes. The client
/// retries each to the right answer; a checkpoint that still fails aborts with an error, and the last completed
/// one restores exactly.
@Suite(.serialized) struct ObjectStoreFaultTests {
    static let bucket = "weir-faults"

    /// Each fault kind in 30 % of the requests: every call still gives the right answer (8 attempts), the
    /// conditional create of a new key included when its answer was lost after the server stored it.
    @Test func everyFaultKindIsRetriedToTheRightAnswer() throws {
        let server = try SeaweedServer(bucket: Self.bucket)
        defer { server.stop() }
        let none = FaultInjectingS3Proxy.Rates.uniform(0)
        let kinds: [(FaultInjectingS3Proxy.Fault, FaultInjectingS3Proxy.Rates)] = [
            (.serverError, { var r = none; r.serverError = 0.3; return r }()),
            (.slowDown, { var r = none; r.slowDown = 0.3; return r }()),
            (.reset, { var r = none; r.reset = 0.3; return r }()),
            (.lostAnswer, { var r = none; r.lostAnswer = 0.3; return r }()),
            (.truncatedBody, { var r = none; r.truncatedBody = 0.3; return r }()),
            (.spike, { var r = none; r.latency = 0.3; return r }()),
        ]
        for (index, (kind, rates)) in kinds.enumerated() {
            let proxy = try FaultInjectingS3Proxy(upstream: server.configuration, seed: UInt64(index + 1), rates: rates)
            defer { proxy.close() }
            var configuration = proxy.configuration
            configuration.attempts = 8
            configuration.backoff = .milliseconds(1)
            let client = S3Client(configuration)
            var generator = SeededGenerator(seed: UInt64(index))
            for round in 0..<20 {
                let key = "\(kind)/object-\(round)"
                let bytes = (0..<Int.random(in: 1..<5_000, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                try client.put(bucket: Self.bucket, key: key, bytes: bytes, ifNoneMatch: round % 2 == 0)
                #expect(try client.get(bucket: Self.bucket, key: key) == bytes, "\(kind) round \(round)")
                #expect(try client.get(bucket: Self.bucket, key: key, offset: 1, count: 10) == Array(bytes.dropFirst().prefix(10)))
                #expect(try client.head(bucket: Self.bucket, key: key)?.size == bytes.count)
            }
            #expect(try client.list(bucket: Self.bucket, prefix: "\(kind)/", pageSize: 7).objects.count == 20)
            // A second writer of a key is still refused: only the same bytes count as one's own lost create.
            let refused = #expect(throws: ObjectStoreError.self) {
                try client.put(bucket: Self.bucket, key: "\(kind)/object-0", bytes: [1], ifNoneMatch: true)
            }
            #expect(refused?.code == .alreadyExists)
            try client.delete(bucket: Self.bucket, keys: (0..<20).map { "\(kind)/object-\($0)" })
            #expect(try client.list(bucket: Self.bucket, prefix: "\(kind)/").objects.isEmpty)
            let injected = proxy.injected
            #expect(injected.contains { $0.fault == kind }, "\(kind): \(proxy.requests) requests, none faulted")
            #expect(injected.allSatisfy { $0.fault == kind })
        }
    }

    /// A backend checkpointing to object storage through 15 % faulty requests (3 attempts each, as in production):
    /// every checkpoint completes or aborts with an error, the backend goes on, and on a fresh machine the last
    /// completed checkpoint restores exactly.
    @Test(arguments: [SnapshotStrategy.changelog(materializationInterval: .zero, persistThreshold: 2_048), .incremental])
    func checkpointsThroughFaultyRequestsRestoreExactly(strategy: SnapshotStrategy) throws {
        let server = try SeaweedServer(bucket: Self.bucket)
        defer { server.stop() }
        let proxy = try FaultInjectingS3Proxy(upstream: server.configuration, seed: 42, rates: .uniform(0.15))
        defer { proxy.close() }
        let scratch = TemporaryDirectory(prefix: "weir-s3-proxy")
        defer { scratch.remove() }
        let root = "s3://\(Self.bucket)/\(strategy.kind.rawValue)"
        func fileSystem(_ name: String, _ configuration: S3Configuration) throws -> ObjectStoreFileSystem {
            try ObjectStoreFileSystem(
                configuration: configuration,
                cache: try ObjectCache(directory: scratch.appending("cache-\(name)"), capacity: 256 << 20))
        }
        var configuration = proxy.configuration
        configuration.backoff = .milliseconds(5)
        var workload = CheckpointWorkload(seed: 11)
        var completed: [Int64: CheckpointWorkload.Model] = [:]
        var aborted = 0
        do {
            let storage = try CheckpointStorage(root: root, retained: 2, fileSystem: try fileSystem("writer", configuration))
            defer { storage.close() }
            let backend = try CheckpointedBackend.open(
                backendID: "op/0", storage: storage, workingDirectory: scratch.appending("work"), engine: .rocksDB(),
                keySerializer: .int64, strategy: strategy)
            let states = try CheckpointWorkload.register(backend.state)
            for round in 1...12 {
                for _ in 0..<200 { try workload.step(states) }
                if strategy.kind == .changelog && round % 4 == 0 { try? backend.materializeNow() }
                let id = storage.nextCheckpointID
                do throws(CheckpointError) {
                    try backend.checkpoint(id)
                    completed[id] = workload.model
                } catch {
                    aborted += 1
                    #expect(error.message.contains(root) || error.message.contains("s3://"), "\(error.message)")
                }
            }
            try backend.close()
            storage.waitForCleanup()
        }
        #expect(!completed.isEmpty)
        proxy.setArmed(false)
        let storage = try CheckpointStorage(root: root, retained: 2, fileSystem: try fileSystem("fresh", server.configuration))
        defer { storage.close() }
        let latest = try #require(storage.completedCheckpoints.last)
        #expect(latest == completed.keys.max())
        let restored = try CheckpointedBackend.open(
            backendID: "op/0", storage: storage, workingDirectory: scratch.appending("restored"), engine: .rocksDB(),
            keySerializer: .int64, strategy: strategy, restore: .latest)
        #expect(try workload.read(try CheckpointWorkload.register(restored.state)) == completed[latest])
        try restored.close()
        let faults = proxy.injected.filter { $0.fault != .spike }
        #expect(!faults.isEmpty)
        print("\(strategy.kind.rawValue): \(proxy.requests) requests, \(faults.count) faults, \(completed.count) checkpoints completed, \(aborted) aborted")
    }
}

/// Seeded simulations of the keyed-count job with the root on object storage: storage faults at the case's
/// rate on the file-system seam and on the wire (`FaultInjectingS3Proxy`), checked against the reference model.
@Suite(.serialized) struct ObjectStoreSimulationTests {
    @Test func seededSimulationsOnObjectStorageMatchTheModel() throws {
        let server = try SeaweedServer(bucket: "weir-simulation")
        defer { server.stop() }
        var faults = 0
        for seed in [201, 202, 203, 204] {
            let scratch = TemporaryDirectory(prefix: "weir-simulation-s3")
            defer { scratch.remove() }
            let outcome = Simulation.run(
                SimulationCase(seed: UInt64(seed), faultRate: 0.01), directory: scratch.path,
                objectStorage: Simulation.ObjectStorage(configuration: server.configuration, bucket: "weir-simulation"))
            #expect(outcome.passed, "\(outcome)")
            #expect(outcome.completed > 0, "seed \(seed): no checkpoint completed")
            faults += outcome.faults
            print(outcome)
        }
        #expect(faults > 0)
    }

    /// A checkpoint folder whose removal failed half-way stays listed with nothing in it (SeaweedFS keeps the
    /// directory): the next start collects it like any aborted folder. The simulation found it left behind.
    @Test func anEmptyCheckpointFolderIsCollectedAtStart() throws {
        let server = try SeaweedServer(bucket: "weir-simulation")
        defer { server.stop() }
        let scratch = TemporaryDirectory(prefix: "weir-s3-empty")
        defer { scratch.remove() }
        let client = S3Client(server.configuration)
        // Its files were deleted, not the folder itself.
        try client.put(bucket: "weir-simulation", key: "root/chk-7/channel-state", bytes: [1])
        try client.delete(bucket: "weir-simulation", key: "root/chk-7/channel-state")
        let fileSystem = try ObjectStoreFileSystem(
            configuration: server.configuration, cache: try ObjectCache(directory: scratch.appending("cache"), capacity: 1 << 20))
        #expect(try fileSystem.list("s3://weir-simulation/root") == ["chk-7"])
        let storage = try CheckpointStorage(root: "s3://weir-simulation/root", fileSystem: fileSystem)
        #expect(storage.startup.removedAborted == ["chk-7"])
        storage.close()
        #expect(try fileSystem.list("s3://weir-simulation/root").filter { $0.hasPrefix("chk-") }.isEmpty)
    }
}
