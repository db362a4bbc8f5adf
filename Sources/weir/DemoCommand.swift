import ArgumentParser
import Checkpointing
import Foundation
import KeyedState
import RocksKit
import StateCore

#if canImport(Glibc)
import Glibc
#endif

/// `weir demo`: runs the keyed state backend end to end and prints what it did.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the keyed state backend end to end on RocksDB and print what it did.",
        discussion: """
            Processes synthetic click events per user: a count (value state), recent pages (list state), \
            pages per user (map state), total spend (reducing state) and a 4 KiB profile blob kept in RocksDB \
            blob files (KV separation). Then closes, reopens and reads the state back. Finally runs the same \
            events with changelog checkpoints (a checkpoint every tenth of the events, one materialization), \
            drops the changes after the last checkpoint as a crash would, and restores the latest checkpoint.

            Example:
              weir demo --events 200000 --users 10000 --directory /tmp/weir-demo
            """
    )

    @Option(help: "How many events to process.")
    var events: Int = 200_000

    @Option(help: "How many distinct users (keys).")
    var users: Int = 10_000

    @Option(help: "The RocksDB directory (removed first). Default: a fresh folder under $TMPDIR.")
    var directory: String?

    func validate() throws {
        guard self.events > 0, self.users > 0 else { throw ValidationError("--events and --users must be positive") }
    }

    func run() throws {
        let path = self.directory ?? InspectionSupport.scratchDirectory("weir-demo")
        _ = system("rm -rf '\(path)'")
        print("Weir keyed state demo: \(self.events) events over \(self.users) users, RocksDB at \(path)")

        var options = RocksOptions()
        options.statistics = true  // the write amplification printed at the end
        let backend = try KeyedStateBackend.rocksDB(directory: path, keySerializer: .int64, options: options)
        let states = try DemoStates(backend)
        var random = SeededGenerator(seed: 42)
        let profile = [UInt8](repeating: 0x5F, count: 4_096)
        let started = ContinuousClock.now
        for event in 0..<self.events {
            let user = Int64(random.next() % UInt64(self.users))
            let page = Int32(truncatingIfNeeded: random.next() % 50)
            try backend.setCurrentKey(user)
            try states.count.update((try states.count.value() ?? 0) + 1)
            try states.recent.add("page-\(page)")
            try states.pages.put(page, (try states.pages.get(page) ?? 0) + 1)
            try states.spend.add(Double(event % 100) / 10)
            if event % 10 == 0 { try states.profile.update(profile) }
        }
        let elapsed = started.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(String(format: "processed %d events in %.2f s (%.0f events/s, %d state operations each)",
                     self.events, seconds, Double(self.events) / seconds, 8))

        try backend.setCurrentKey(7)
        print("user 7: count \(try states.count.value() ?? 0), spend \(try states.spend.get() ?? 0), "
              + "\(try states.pages.keys().count) distinct pages, last pages \(try states.recent.get().suffix(3))")
        if let database = backend.rocksDatabase {
            try database.flush()
            let statistics = database.statistics()
            print("RocksDB: \(statistics.bytesWritten) bytes written by the backend, "
                  + "\(statistics.flushBytesWritten) flushed (of which \(statistics.blobBytesWritten) to blob files), "
                  + String(format: "write amplification %.2f", statistics.writeAmplification))
            let blobFamily = database.columnFamily(named: "state.profile")
            print("blob files of 'profile': \(database.integerProperty("rocksdb.num-blob-files", family: blobFamily) ?? 0), "
                  + "\(database.integerProperty("rocksdb.total-blob-file-size", family: blobFamily) ?? 0) bytes")
        }
        let expected = try states.count.value()
        try backend.close()

        let reopened = try KeyedStateBackend.rocksDB(directory: path, keySerializer: .int64, reopen: true)
        let again = try DemoStates(reopened)
        try reopened.setCurrentKey(7)
        let restored = try again.count.value()
        print("reopened \(path): user 7 count \(restored ?? 0) (\(restored == expected ? "matches" : "DIFFERS"))")
        do {
            _ = try reopened.valueState(ValueStateDescriptor("count", serializer: .string))
        } catch {
            print("registering 'count' with another serializer is refused: \(error)")
        }
        try reopened.close()
        let recovered = try self.runCheckpointed(path: path + "-checkpointed")
        if self.directory == nil { _ = system("rm -rf '\(path)' '\(path)-checkpointed'") }
        if restored != expected || !recovered { throw ExitCode.failure }
    }

    /// Checkpoints with the changelog strategy, "crashes" after the last checkpoint, restores; true when the
    /// restored count of user 7 is the one at the last checkpoint.
    private func runCheckpointed(path: String) throws -> Bool {
        let storage = try CheckpointStorage(root: path + "/checkpoints")
        defer { storage.close() }
        let backend = try CheckpointedBackend<Int64>.open(
            backendID: "clicks/0", storage: storage, workingDirectory: path + "/work", keySerializer: .int64,
            strategy: .changelog(materializationInterval: .seconds(3_600)))
        let count = try backend.state.valueState(ValueStateDescriptor("count", serializer: .int64))
        var random = SeededGenerator(seed: 42)
        var atCheckpoint: Int64 = 0
        var checkpointID: Int64 = 0
        var durations: [Duration] = []
        let every = max(1, self.events / 10)
        for event in 0..<self.events {
            try backend.state.setCurrentKey(Int64(random.next() % UInt64(self.users)))
            try count.update((try count.value() ?? 0) + 1)
            if event == self.events / 2 { try backend.materializeNow() }
            if event % every == every - 1 && event < self.events - every / 2 {
                checkpointID += 1
                let started = ContinuousClock.now
                let handle = try backend.checkpoint(checkpointID)
                durations.append(started.duration(to: .now))
                if checkpointID == 1 || checkpointID % 3 == 0 {
                    print("checkpoint \(checkpointID): \(handle.changelog.count) changelog section(s), "
                          + "\(handle.changelogBytes) bytes of changelog since SQN \(handle.materialization?.sqn ?? 0), "
                          + String(format: "took %.1f ms", Double(durations.last!.components.attoseconds) / 1e15
                              + Double(durations.last!.components.seconds) * 1_000))
                }
                try backend.state.setCurrentKey(7)
                atCheckpoint = try count.value() ?? 0
            }
        }
        try backend.state.setCurrentKey(7)
        print("after the last checkpoint user 7 counts \(try count.value() ?? 0); \(checkpointID) checkpoints, "
              + "materialization: \(backend.lastMaterialization.map { "\($0.uploadedBytes) bytes uploaded" } ?? "none")")
        try backend.close()  // the changes since checkpoint \(checkpointID) are lost, as in a crash

        let restored = try CheckpointedBackend<Int64>.open(
            backendID: "clicks/0", storage: storage, workingDirectory: path + "/work", keySerializer: .int64,
            restore: .latest)
        print(restored.restoreReport?.description ?? "nothing restored")
        let again = try restored.state.valueState(ValueStateDescriptor("count", serializer: .int64))
        try restored.state.setCurrentKey(7)
        let value = try again.value() ?? 0
        print("restored user 7 count \(value), at checkpoint \(checkpointID) it was \(atCheckpoint) "
              + "(\(value == atCheckpoint ? "matches" : "DIFFERS"))")
        try restored.close()
        return value == atCheckpoint
    }
}

/// The demo's states, registered the same way on first open and on reopen.
private struct DemoStates {
    let count: ValueState<Int64, VoidNamespace>
    let recent: ListState<String, VoidNamespace>
    let pages: MapState<Int32, Int64, VoidNamespace>
    let spend: ReducingState<Double, VoidNamespace>
    let profile: ValueState<[UInt8], VoidNamespace>

    init(_ backend: KeyedStateBackend<Int64>) throws {
        self.count = try backend.valueState(ValueStateDescriptor("count", serializer: .int64))
        self.recent = try backend.listState(
            ListStateDescriptor("recent", serializer: .string,
                                options: StateOptions(ttl: StateTTL(timeToLive: .seconds(3_600)))))
        self.pages = try backend.mapState(MapStateDescriptor("pages", keySerializer: .int32, valueSerializer: .int64))
        self.spend = try backend.reducingState(ReducingStateDescriptor("spend", serializer: .double) { $0 + $1 })
        self.profile = try backend.valueState(
            ValueStateDescriptor("profile", serializer: .bytes,
                                 options: StateOptions(valueSeparation: ValueSeparation(minBlobSize: 1_024))))
    }
}
