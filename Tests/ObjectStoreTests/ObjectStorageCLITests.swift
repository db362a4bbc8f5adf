import Checkpointing
import Foundation
import KeyedState
import ObjectStore
import StateTestSupport
import Testing

/// Every `weir` command on an `s3://` root of a real SeaweedFS, configured only by the AWS environment variables
/// as a user would: `checkpoints`, `show`, `dump`, `changelog`, `diff`, `verify` and `gc` give what they give on
/// the same checkpoints on local disk; a savepoint written to `s3://` from a job on a local root is inspected by
/// the CLI and restores exactly on a fresh machine.
@Suite(.serialized) struct ObjectStorageCLITests {
    static let bucket = "weir-cli"
    static let weir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path + "/weir"

    /// The environment a user sets for `server` (and a cache directory of the test's own).
    static func environment(_ server: SeaweedServer, cache: String) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ENDPOINT_URL"] = server.configuration.endpoint
        environment["AWS_REGION"] = server.configuration.region
        environment["AWS_ACCESS_KEY_ID"] = server.configuration.accessKeyID
        environment["AWS_SECRET_ACCESS_KEY"] = server.configuration.secretAccessKey
        environment["WEIR_CACHE_DIRECTORY"] = cache
        environment["COLUMNS"] = "100"
        return environment
    }

    /// Runs the binary; `output` is standard output, `errors` standard error.
    static func run(_ arguments: [String], environment: [String: String]) throws -> FinishedProcess {
        try FinishedProcess.run(Self.weir, arguments, environment: environment)
    }

    /// Checkpoints 1 and 2 (a materialization between them) of the seeded workload under `root`, retaining 3.
    static func seed(root: String, fileSystem: (any CheckpointFileSystem)?, work: String) throws -> CheckpointWorkload.Model {
        let storage = try CheckpointStorage(root: root, retained: 3, fileSystem: fileSystem)
        defer { storage.close() }
        let backend = try CheckpointedBackend<Int64>.open(
            backendID: "op/0", storage: storage, workingDirectory: work, keySerializer: .int64,
            strategy: .changelog(materializationInterval: .zero, persistThreshold: 2_048))
        let states = try CheckpointWorkload.register(backend.state)
        var workload = CheckpointWorkload(seed: 31)
        for _ in 0..<400 { try workload.step(states) }
        try backend.checkpoint(1)
        try backend.materializeNow()
        for _ in 0..<400 { try workload.step(states) }
        try backend.checkpoint(2)
        try backend.close()
        storage.waitForCleanup()
        return workload.model
    }

    @Test func everyCommandReadsAnObjectStorageRootAsItReadsALocalOne() throws {
        let server = try SeaweedServer(bucket: Self.bucket)
        defer { server.stop() }
        let scratch = TemporaryDirectory(prefix: "weir-s3-cli")
        defer { scratch.remove() }
        let local = scratch.appending("root")
        let remote = "s3://\(Self.bucket)/jobs/cli"
        let writer = try ObjectStorageCheckpointTests.fileSystem(server, scratch, "writer")
        let model = try Self.seed(root: local, fileSystem: nil, work: scratch.appending("work-local"))
        #expect(try Self.seed(root: remote, fileSystem: writer, work: scratch.appending("work-remote")) == model)
        let environment = Self.environment(server, cache: scratch.appending("cache-cli"))
        func both(_ arguments: (String) -> [String]) throws -> (local: String, remote: String) {
            let onDisk = try Self.run(arguments(local), environment: environment)
            let onServer = try Self.run(arguments(remote), environment: environment)
            #expect(onDisk.status == 0, "\(arguments(local)): \(onDisk.errors)")
            #expect(onServer.status == 0, "\(arguments(remote)): \(onServer.errors)")
            return (onDisk.output, onServer.output.replacingOccurrences(of: remote, with: local))
        }

        let listed = try both { ["checkpoints", $0, "--json"] }
        #expect(listed.remote.contains("\"folder\":\"chk-2\"") && listed.remote.contains("\"status\":\"completed\""), "\(listed.remote)")
        #expect(listed.remote.split(separator: "\n").count == listed.local.split(separator: "\n").count)
        for state in ["count", "events", "tags"] {
            let dumped = try both { ["dump", $0 + "/chk-2", "--state", state, "--json"] }
            #expect(!dumped.local.isEmpty && dumped.remote == dumped.local, "dump \(state)")
        }
        let changed = try both { ["diff", $0 + "/chk-1", $0 + "/chk-2", "--json"] }
        #expect(!changed.local.isEmpty && changed.remote == changed.local)
        let changelog = try both { ["changelog", $0 + "/chk-2", "--json", "--limit", "50"] }
        #expect(changelog.remote.split(separator: "\n").count == changelog.local.split(separator: "\n").count)
        #expect(changelog.remote.split(separator: "\n").count > 1)
        let shown = try both { ["show", $0 + "/chk-2"] }
        #expect(shown.remote.contains("op/0") && shown.remote.contains("changelog"), "\(shown.remote)")
        let verified = try both { ["verify", $0] }
        #expect(verified.remote.contains("verified 2 checkpoint(s)") && verified.remote.hasSuffix("OK\n"), "\(verified.remote)")

        // gc on the server: checkpoint 1 and what only it referenced go, checkpoint 2 still verifies and dumps.
        let dry = try Self.run(["gc", remote, "--keep", "1", "--dry-run"], environment: environment)
        #expect(dry.status == 0 && dry.output.contains("chk-1"), "\(dry.output)\(dry.errors)")
        let store = try ObjectStoreFileSystem.forPath(remote, environment: environment) as? ObjectStoreFileSystem
        let location = try S3Location(url: remote)
        func keys() throws -> Set<String> {
            Set(try #require(store).client.list(bucket: location.bucket, prefix: location.prefix + "/").objects.map(\.key))
        }
        let before = try keys()
        #expect(before.contains { $0.hasSuffix("chk-1/_metadata") })
        let collected = try Self.run(["gc", remote, "--keep", "1"], environment: environment)
        #expect(collected.status == 0, "\(collected.errors)")
        let after = try keys()
        #expect(!after.contains { $0.contains("/chk-1/") }, "checkpoint 1 is gone: \(after.sorted())")
        #expect(after.contains { $0.hasSuffix("chk-2/_metadata") } && after.count < before.count)
        #expect(try Self.run(["verify", remote], environment: environment).status == 0)
        let again = try Self.run(["dump", remote + "/chk-2", "--state", "count", "--json"], environment: environment)
        let onDisk = try Self.run(["dump", local + "/chk-2", "--state", "count", "--json"], environment: environment)
        #expect(again.status == 0 && again.output.replacingOccurrences(of: remote, with: local) == onDisk.output)

        // A command on the server with the wrong secret fails with one line naming the variable.
        var wrong = environment
        wrong["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
        wrong["WEIR_CACHE_DIRECTORY"] = scratch.appending("cache-wrong")
        let refused = try Self.run(["checkpoints", remote], environment: wrong)
        #expect(refused.status != 0 && refused.errors.contains("AWS_SECRET_ACCESS_KEY"), "\(refused.errors)")
    }

    @Test func aSavepointOnObjectStorageFromALocalRootRestoresOnAFreshMachine() throws {
        let server = try SeaweedServer(bucket: Self.bucket)
        defer { server.stop() }
        let scratch = TemporaryDirectory(prefix: "weir-s3-savepoint")
        defer { scratch.remove() }
        let environment = Self.environment(server, cache: scratch.appending("cache-job"))
        for name in ["AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            setenv(name, environment[name]!, 1)  // the job finds the object store as a user's job would
        }
        let savepoint = "s3://\(Self.bucket)/savepoints/sp-7"
        let model: CheckpointWorkload.Model
        var workload = CheckpointWorkload(seed: 5)
        do {
            let storage = try CheckpointStorage(root: scratch.appending("root"))
            defer { storage.close() }
            let backend = try CheckpointedBackend<Int64>.open(
                backendID: "op/0", storage: storage, workingDirectory: scratch.appending("work"), keySerializer: .int64,
                strategy: .changelog(materializationInterval: .zero, persistThreshold: 2_048))
            let states = try CheckpointWorkload.register(backend.state)
            for _ in 0..<600 { try workload.step(states) }
            try backend.checkpoint(1)
            let metadata = try backend.writeSavepoint(to: savepoint, id: 7)
            #expect(metadata.kind == .savepoint)
            model = workload.model
            #expect(throws: CheckpointError.self) { try backend.writeSavepoint(to: savepoint, id: 7) }  // never overwritten
            try backend.close()
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.appending("root") + "/savepoints"))

        let cli = Self.environment(server, cache: scratch.appending("cache-cli"))
        let shown = try Self.run(["show", savepoint], environment: cli)
        #expect(shown.status == 0 && shown.output.contains("savepoint"), "\(shown.output)\(shown.errors)")
        #expect(try Self.run(["verify", savepoint], environment: cli).status == 0)
        let dumped = try Self.run(["dump", savepoint, "--state", "count", "--json"], environment: cli)
        #expect(dumped.status == 0 && dumped.output.split(separator: "\n").count == model.values.count)

        // The job's own machine, through the environment (a local root, the savepoint on the server).
        let fresh = try ObjectStorageCheckpointTests.fileSystem(server, scratch, "fresh")
        for (index, fileSystem) in [nil, fresh as any CheckpointFileSystem].enumerated() {
            // Then a fresh machine: a new local root, a new working directory, an empty object cache.
            let storage = try CheckpointStorage(root: scratch.appending("root-\(index)"), fileSystem: fileSystem)
            defer { storage.close() }
            let restored = try CheckpointedBackend<Int64>.open(
                backendID: "op/0", storage: storage, workingDirectory: scratch.appending("work-\(index)"), engine: .heap,
                keySerializer: .int64, strategy: .full, restore: .savepoint(savepoint))
            defer { try? restored.close() }
            #expect(try workload.read(try CheckpointWorkload.register(restored.state)) == model)
        }
    }
}
