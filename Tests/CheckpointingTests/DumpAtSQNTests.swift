import Checkpointing
import Foundation
import Inspection
import KeyedState
import StateCore
import StateTestSupport
import Testing

/// `dump` at every SQN the checkpoint covers, section boundaries or not, equals a reference model of the state
/// before that SQN (before: an SQN inside a section failed with "the changelog has a gap").
@Suite struct DumpAtSQNTests {
    @Test(arguments: [false, true])
    func everySQNFromTheMaterializationToTheCheckpointDumps(heap: Bool) throws {
        let scratch = Scratch()
        let storage = try CheckpointStorage(root: scratch.root)
        let backend = try CheckpointedBackend<Int64>.open(
            backendID: "op/0", storage: storage, workingDirectory: scratch.work, engine: heap ? .heap : .rocksDB(),
            keySerializer: .int64, strategy: .changelog(materializationInterval: .zero, persistThreshold: 64))
        let count = try backend.state.valueState(ValueStateDescriptor("count", serializer: .int64))
        // One change (one SQN) per operation: a put, or every fifth a delete. `history[s]`: the state before SQN s.
        var model: [Int64: Int64] = [:]
        var history: [[Int64: Int64]] = []
        var random = SeededGenerator(seed: 3)
        func step(_ index: Int) throws {
            history.append(model)
            let key = Int64(random.next() % 7)
            try backend.state.setCurrentKey(key)
            if index % 5 == 4 {
                try count.clear()
                model[key] = nil
            } else {
                try count.update(Int64(index))
                model[key] = Int64(index)
            }
        }
        for index in 0..<20 { try step(index) }
        try backend.materializeNow()
        for index in 20..<60 { try step(index) }
        history.append(model)
        try backend.checkpoint(1)
        try backend.close()
        storage.close()

        let inspector = try CheckpointInspector(root: scratch.root)
        let metadata = try inspector.metadata(1)
        let handle = try #require(metadata.backends.first)
        let from = try #require(handle.materialization?.sqn)
        #expect(from == 20 && handle.sqn == 60, "one SQN per change: materialization at \(from), checkpoint at \(handle.sqn)")
        #expect(handle.changelog.count > 3, "the changelog must have several sections: \(handle.changelog.count)")
        for sqn in from...handle.sqn {
            var dumped: [String: String] = [:]
            try inspector.dump(metadata, DumpRequest(
                state: "count", atSQN: sqn, scratchDirectory: scratch.directory.appending("dump"))
            ) { entry throws(CheckpointError) in
                dumped[entry.key] = entry.value
                return true
            }
            let expected = Dictionary(uniqueKeysWithValues: history[Int(sqn)].map { ("\($0.key)", "\($0.value)") })
            #expect(dumped == expected, "at SQN \(sqn)")
        }
    }
}
