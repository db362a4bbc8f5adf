import Foundation
import RocksKit
import Runtime
import StateCore
import Synchronization

/// The physical limit of the recovery workload: per subtask, a thread and its own RocksDB database doing the
/// workload's RocksDB operations per record through the raw C API (get the count, put count + 1, put the payload),
/// with the same keys, payloads and RocksDB options, and nothing else (no channels, no serialization, no
/// changelog).
enum BareKeyedCountLoop {
    /// Records per second over all threads, after `warmup` seconds.
    static func run(_ options: RecoveryOptions, directory: String, seconds: Double) throws -> Double {
        let rocks = options.rocksOptions
        let configuration = GeneratorSource.Configuration(keys: options.keys, payloadBytes: options.payload, seed: options.seed)
        let counts = Counts(options.parallelism)
        let group = DispatchGroup()
        let failure = Counts(1)
        for subtask in 0..<options.parallelism {
            let side = try RawSide(
                directory: "\(directory)/bare-\(subtask)", options: rocks,
                separation: options.kvSeparation ? ValueSeparation(minBlobSize: options.minBlobSize) : nil)
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                var payload = [UInt8](repeating: 0, count: options.payload)
                var local: Int64 = 0
                let warm = ContinuousClock.now + .milliseconds(Int64(options.warmup * 1000))
                let end = warm + .milliseconds(Int64(seconds * 1000))
                var measured = 0
                while true {
                    for _ in 0..<256 {
                        let index = local * Int64(options.parallelism) + Int64(subtask)
                        local += 1
                        withUnsafeBytes(of: index.bigEndian) { raw in for i in 0..<min(8, payload.count) { payload[i] = raw[i] } }
                        do { try side.countAndKeep(GeneratorSource.key(of: index, configuration: configuration), payload) } catch {
                            failure.add(0, 1)
                            return
                        }
                        measured += 1
                    }
                    let now = ContinuousClock.now
                    if now < warm { measured = 0 }
                    if now >= end { break }
                }
                counts.add(subtask, measured)
                try? side.database.close()
            }
            thread.start()
        }
        group.wait()
        guard failure.total == 0 else { throw BenchFailure(description: "the bare C loop failed a RocksDB call") }
        return Double(counts.total) / seconds
    }
}

/// Per-thread counts.
final class Counts: Sendable {
    private let values: Mutex<[Int]>
    init(_ count: Int) { self.values = Mutex(Array(repeating: 0, count: count)) }
    func add(_ index: Int, _ value: Int) { self.values.withLock { $0[index] += value } }
    var total: Int { self.values.withLock { $0.reduce(0, +) } }
}
