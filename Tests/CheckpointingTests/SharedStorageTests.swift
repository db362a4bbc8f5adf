import Checkpointing
import Dispatch
import KeyedState
import StateCore
import StateTestSupport
import Synchronization
import Testing

/// Several backends of one process on their own threads share a storage (and its segment files): a checkpoint
/// made of their concurrent snapshots restores each backend exactly.
@Suite struct SharedStorageTests {
    @Test func concurrentBackendsShareOneRoot() throws {
        let scratch = Scratch()
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        let setup = Setup(strategy: .changelog(materializationInterval: .zero, persistThreshold: 512), heap: false)
        nonisolated(unsafe) var backends: [CheckpointedBackend<Int64>] = []
        nonisolated(unsafe) var states: [CheckpointWorkload.States] = []
        nonisolated(unsafe) var workloads: [CheckpointWorkload] = []
        for index in 0..<2 {
            let backend = try CheckpointedBackend<Int64>.open(
                backendID: "op/\(index)", storage: storage, workingDirectory: scratch.work + "-\(index)",
                engine: setup.engine(), keySerializer: .int64, strategy: setup.strategy)
            backends.append(backend)
            states.append(try CheckpointWorkload.register(backend.state))
            workloads.append(CheckpointWorkload(seed: UInt64(40 + index)))
        }
        let failures = Mutex<[String]>([])
        var models: [CheckpointWorkload.Model] = []
        for id in Int64(1)...4 {
            nonisolated(unsafe) var handles: [BackendStateHandle?] = [nil, nil]
            DispatchQueue.concurrentPerform(iterations: 2) { index in
                do {
                    for _ in 0..<300 { try workloads[index].step(states[index]) }
                    if id == 2 { try backends[index].materializeNow() }
                    handles[index] = try backends[index].snapshot(checkpointID: id)
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
            #expect(failures.withLock { $0 }.isEmpty)
            try storage.publish(CheckpointMetadata(
                checkpointID: id, timestampMilliseconds: 0, backends: handles.compactMap { $0 }))
            models = workloads.map(\.model)
        }
        for backend in backends { try backend.close() }
        storage.waitForCleanup()
        let metadata = try storage.metadata(4)
        let shared = Set(try storage.fileSystem.list(scratch.root + "/shared").map { "shared/\($0)" })
        #expect(shared == metadata.referencedPaths, "every file referenced, nothing else left")
        for index in 0..<2 {
            let restored = try CheckpointedBackend<Int64>.open(
                backendID: "op/\(index)", storage: storage, workingDirectory: scratch.work + "-r\(index)",
                engine: setup.engine(), keySerializer: .int64, strategy: setup.strategy, restore: .latest)
            #expect(try workloads[index].read(try CheckpointWorkload.register(restored.state)) == models[index])
            try restored.close()
        }
    }
}
