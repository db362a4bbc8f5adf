import KeyedState
import StateCore
import StateTestSupport

/// Which engine a parameterized test runs on.
enum TestEngine: String, CaseIterable, CustomTestStringConvertible {
    case heap
    case rocksDB

    var testDescription: String { self.rawValue }
}

import Testing

/// A backend plus what a test needs to clean up and move time.
final class TestBackend<Key> {
    let backend: KeyedStateBackend<Key>
    let clock: ManualStateClock
    let directory: TemporaryDirectory?

    init(
        _ engine: TestEngine, keySerializer: any StateSerializer<Key>, keyGroupRange: KeyGroupRange? = nil,
        maxParallelism: Int = 128
    ) throws {
        let clock = ManualStateClock()
        self.clock = clock
        switch engine {
        case .heap:
            self.directory = nil
            self.backend = .heap(
                keySerializer: keySerializer, keyGroupRange: keyGroupRange, maxParallelism: maxParallelism,
                clock: clock)
        case .rocksDB:
            let directory = TemporaryDirectory(prefix: "weir-keyed")
            self.directory = directory
            self.backend = try .rocksDB(
                directory: directory.appending("db"), keySerializer: keySerializer, keyGroupRange: keyGroupRange,
                maxParallelism: maxParallelism, clock: clock)
        }
    }

    deinit {
        try? self.backend.close()
        self.directory?.remove()
    }
}

/// Average of Int64 inputs, for aggregating-state tests.
struct AverageFunction: AggregateFunction {
    func makeAccumulator() -> [Int64] { [0, 0] }
    func add(_ input: Int64, to accumulator: [Int64]) -> [Int64] { [accumulator[0] + 1, accumulator[1] + input] }
    func result(of accumulator: [Int64]) -> Double { Double(accumulator[1]) / Double(accumulator[0]) }
}
