@testable import Checkpointing
import Foundation
import KeyedState
import StateCore
import Testing

/// The metadata body written with the changelog lists spliced in by hand is byte for byte what `JSONEncoder` with
/// sorted keys writes, for seeded metadata: several backends (none, one or many sections each), awkward strings
/// (quotes, slashes, control characters, non-ASCII, a backend ID that spells the splice marker), local names,
/// materializations, and operator state named like the changelog key.
@Suite struct MetadataJSONTests {
    static let awkward = ["op/0", #"a"b\c"#, "tab\there", "\u{1}\u{1f}\u{7f}", "naïve/日本", #""changelog":[]"#, ""]

    static func metadata(seed: UInt64) -> CheckpointMetadata {
        var generator = SeededGenerator(seed: seed)
        func pick<T>(_ values: [T]) -> T { values[Int.random(in: 0..<values.count, using: &generator)] }
        let backends = (0..<Int.random(in: 0...3, using: &generator)).map { index in
            let sections = (0..<pick([0, 1, 5, 40])).map { _ in
                ChangelogSectionHandle(
                    file: StoredFile(
                        path: "shared/\(UInt64.random(in: 0...UInt64.max, using: &generator))-\(pick(Self.awkward)).wcl",
                        size: Int.random(in: 0...Int.max, using: &generator), crc32c: UInt32.random(in: 0...UInt32.max, using: &generator),
                        localName: pick([nil, "000012.log", #"x"/y"#])),
                    offset: Int.random(in: 0...1 << 40, using: &generator), length: Int.random(in: 0...1 << 30, using: &generator),
                    firstSQN: UInt64.random(in: 0...UInt64.max / 2, using: &generator), count: Int.random(in: 0...100_000, using: &generator))
            }
            let materialization = pick([nil, MaterializationHandle(
                id: 3, sqn: 99, format: .rocksDB,
                files: [StoredFile(path: "shared/a-000009.sst", size: 10, crc32c: 7, localName: "000009.sst")])])
            return BackendStateHandle(
                backendID: index == 0 ? pick(Self.awkward) : "op/\(index)", strategy: .changelog, engine: "rocksDB",
                keyGroups: KeyGroupRange(start: 0, end: 128), maxParallelism: 128,
                keySchema: SerializerSchema(name: "weir.int64", version: 1), states: [GoldenFormatTests.state],
                sqn: UInt64.random(in: 0...UInt64.max, using: &generator), materialization: materialization, changelog: sections)
        }
        return CheckpointMetadata(
            checkpointID: Int64(seed), timestampMilliseconds: 1_790_000_000_000, backends: backends,
            operatorState: pick([[:], ["changelog": []], ["source": [1, 2, 3], "changelog": [], "/": [0]]]))
    }

    @Test(arguments: 0..<40)
    func bodyIsWhatJSONEncoderWrites(seed: Int) throws {
        let metadata = Self.metadata(seed: UInt64(seed))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let expected = [UInt8](try encoder.encode(metadata))
        let body = MetadataJSON.body(of: metadata)
        #expect(body == expected, "\(String(decoding: body, as: UTF8.self))\n!=\n\(String(decoding: expected, as: UTF8.self))")
        #expect(try CheckpointMetadata.decode(metadata.encoded(), path: "test") == metadata)
    }

    /// A run of checkpoints through one cache: lists grow, lose a prefix (a materialization), are replaced, empty
    /// and come back; every body is the one written without the cache.
    @Test(arguments: 0..<20)
    func cachedBodiesAreTheUncachedOnes(seed: Int) throws {
        var generator = SeededGenerator(seed: UInt64(seed) &+ 1000)
        var metadata = Self.metadata(seed: UInt64(seed))
        guard !metadata.backends.isEmpty else { return }
        let fresh = Self.metadata(seed: UInt64(seed) &+ 5000).backends.flatMap(\.changelog)
        var next = 0
        let cache = SectionListCache()
        for step in 0..<12 {
            let body = MetadataJSON.body(of: metadata, cache: cache)
            #expect(body == MetadataJSON.body(of: metadata), "seed \(seed), step \(step)")
            for index in metadata.backends.indices {
                var list = metadata.backends[index].changelog
                switch Int.random(in: 0..<5, using: &generator) {
                case 0: list.removeFirst(Int.random(in: 0...list.count, using: &generator))
                case 1: list = []
                case 2: if !list.isEmpty { list[Int.random(in: 0..<list.count, using: &generator)].count += 1 }
                default: break
                }
                for _ in 0..<Int.random(in: 0...3, using: &generator) where !fresh.isEmpty {
                    list.append(fresh[next % fresh.count])
                    next += 1
                }
                metadata.backends[index].changelog = list
            }
        }
    }
}
