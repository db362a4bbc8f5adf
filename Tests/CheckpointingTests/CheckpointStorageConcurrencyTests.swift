@testable import Checkpointing
import Foundation
import KeyedState
import StateCore
import StateTestSupport
import Synchronization
import Testing

/// The registry under the storage's lock, driven from many threads at once the way a job drives it: backends
/// create (pinned) files, write them and take them into their live sets while a collector thread collects
/// continuously; backends hold their files for a checkpoint and then drop them, and a coordinator thread
/// publishes each checkpoint once every backend acknowledged it, subsuming older ones. No file a pin, a live set,
/// a hold or a retained checkpoint needs may be deleted, and once nothing needs a file it must go.
@Suite struct CheckpointStorageConcurrencyTests {
    static let backends = 3
    static let checkpoints: Int64 = 8

    /// What the coordinator thread and the backend threads share.
    struct Round {
        var current: Int64 = 1
        var acknowledgements: [Int64: [BackendStateHandle]] = [:]
        var done = false
    }

    static func handle(_ backend: Int, paths: [String], sqn: UInt64) -> BackendStateHandle {
        BackendStateHandle(
            backendID: "op/\(backend)", strategy: .changelog, engine: "rocksDB",
            keyGroups: KeyGroupRange(start: 0, end: 128), maxParallelism: 128,
            keySchema: SerializerSchema(name: "weir.int64", version: 1), states: [], sqn: sqn, materialization: nil,
            changelog: paths.enumerated().map { index, path in
                ChangelogSectionHandle(
                    file: StoredFile(path: path, size: 16, crc32c: 0), offset: 0, length: 16,
                    firstSQN: sqn - UInt64(paths.count - index), count: 1)
            })
    }

    static func exists(_ root: String, _ relative: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(root)/\(relative)")
    }

    @Test(arguments: [1, 2] as [Int])
    func noNeededFileIsCollectedAndNoUnneededFileStays(retained: Int) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let storage = try CheckpointStorage(root: directory.path, retained: retained)
        let root = storage.root
        let round = Mutex(Round())
        let problems = Mutex<[String]>([])
        let finalLive = Mutex<[Int: Set<String>]>([:])
        let group = DispatchGroup()

        for backend in 0..<Self.backends {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                var generator = SeededGenerator(seed: UInt64(backend) + 1)
                var live: [String] = []
                var acknowledged: Int64 = 0
                var sqn: UInt64 = 0
                while !round.withLock({ $0.done }) {
                    let file = storage.newSharedFile(suffix: "\(backend).wcl")
                    if !FileManager.default.createFile(atPath: file.absolute, contents: Data(count: 16)) {
                        problems.withLock { $0.append("could not write \(file.absolute)") }
                    }
                    sqn += 1
                    if Bool.random(using: &generator) { usleep(UInt32.random(in: 0...300, using: &generator)) }
                    if !Self.exists(root, file.relative) {
                        problems.withLock { $0.append("pinned \(file.relative) was collected before its owner took it") }
                    }
                    live.append(file.relative)
                    // The live set keeps the newest three files: older ones become garbage.
                    live = Array(live.suffix(3))
                    storage.setLive(owner: "op/\(backend)", paths: Set(live), settling: [file.relative])
                    storage.collect()
                    let missing = live.filter { !Self.exists(root, $0) }
                    if !missing.isEmpty { problems.withLock { $0.append("live files \(missing) were collected") } }
                    let current = round.withLock { $0.current }
                    guard current > acknowledged, Int.random(in: 0..<4, using: &generator) == 0 else { continue }
                    // Hold this snapshot's files for the checkpoint, then acknowledge it; the live set moves on
                    // at once (a materialization), so only the hold keeps them.
                    storage.hold(current, paths: Set(live))
                    let handle = Self.handle(backend, paths: live, sqn: sqn)
                    round.withLock { $0.acknowledgements[current, default: []].append(handle) }
                    acknowledged = current
                    live.removeAll()
                    storage.setLive(owner: "op/\(backend)", paths: [])
                    storage.collect()
                }
                storage.setLive(owner: "op/\(backend)", paths: Set(live))
                finalLive.withLock { $0[backend] = Set(live) }
            }
        }

        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            defer { round.withLock { $0.done = true } }
            while true {
                let (id, handles) = round.withLock { ($0.current, $0.acknowledgements[$0.current] ?? []) }
                guard id <= Self.checkpoints else { return }
                guard handles.count == Self.backends else {
                    usleep(200)
                    continue
                }
                let metadata = CheckpointMetadata(
                    checkpointID: id, timestampMilliseconds: 1_790_000_000_000,
                    backends: handles.sorted { $0.backendID < $1.backendID })
                do throws(CheckpointError) {
                    try storage.publish(metadata)
                } catch {
                    problems.withLock { $0.append("publishing \(id): \(error.message)") }
                    return
                }
                let missing = metadata.referencedPaths.filter { !Self.exists(root, $0) }
                if !missing.isEmpty { problems.withLock { $0.append("checkpoint \(id) lost \(missing.sorted())") } }
                round.withLock { $0.current = id + 1 }
            }
        }

        // A collector racing everything above.
        let collecting = Atomic<Bool>(true)
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            while collecting.load(ordering: .relaxed) {
                storage.collect()
                usleep(50)
            }
        }
        while round.withLock({ !$0.done }) { usleep(1000) }
        collecting.store(false, ordering: .relaxed)
        group.wait()
        // Backends may have acknowledged the checkpoint after the last: it never completes, and the coordinator
        // aborts it when it stops.
        storage.abort(Self.checkpoints + 1)

        #expect(problems.withLock { $0 }.isEmpty, "\(problems.withLock { $0 })")
        #expect(storage.completedCheckpoints == Array((Self.checkpoints - Int64(retained) + 1)...Self.checkpoints))
        storage.collect()
        storage.waitForCleanup()
        storage.collect()
        storage.waitForCleanup()
        let liveAtEnd = finalLive.withLock { $0.values.reduce(into: Set<String>()) { $0.formUnion($1) } }
        var referenced = Set<String>()
        for id in storage.completedCheckpoints { referenced.formUnion(try storage.metadata(id).referencedPaths) }
        let needed = liveAtEnd.union(referenced)
        let onDisk = Set(try FileManager.default.contentsOfDirectory(atPath: root + "/shared").map { "shared/\($0)" })
        #expect(needed.isSubset(of: onDisk), "needed files are gone: \(needed.subtracting(onDisk).sorted())")
        #expect(onDisk == needed, "files nothing needs were kept: \(onDisk.subtracting(needed).sorted())")
        let completed = storage.completedCheckpoints
        storage.close()

        // A restart finds every retained checkpoint whole and removes only what the backends held live (no
        // running backend claims it now).
        let reopened = try CheckpointStorage(root: directory.path, retained: retained)
        defer { reopened.close() }
        #expect(reopened.completedCheckpoints == completed)
        #expect(Set(reopened.startup.removedOrphans) == liveAtEnd.subtracting(referenced))
    }
}
