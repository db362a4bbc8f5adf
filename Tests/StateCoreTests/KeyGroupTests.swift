import StateCore
import Testing

@Suite struct KeyGroupTests {
    /// Reference values of MurmurHash3 x86_32, seed 0 (from the reference implementation's test vectors).
    @Test(arguments: [
        ("", UInt32(0)),
        ("hello", 0x248b_fa47),
        ("The quick brown fox jumps over the lazy dog", 0x2e4f_f723),
        ("abc", 0xb3dd_93fa),
    ])
    func murmur3MatchesReferenceVectors(input: String, expected: UInt32) {
        #expect(StableHash.murmur3(Array(input.utf8)) == expected)
    }

    @Test func keyGroupIsHashModuloMaxParallelism() {
        let key: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 42]
        #expect(KeyGroup.of(serializedKey: key, maxParallelism: 128) == Int(StableHash.murmur3(key) % 128))
    }

    @Test(arguments: [(1, 128), (2, 128), (3, 128), (7, 100), (128, 128), (5, 32_768)])
    func subtaskRangesTileAllKeyGroups(parallelism: Int, maxParallelism: Int) {
        var next = 0
        for index in 0..<parallelism {
            let range = KeyGroupRange.forSubtask(index: index, parallelism: parallelism, maxParallelism: maxParallelism)
            #expect(range.start == next)
            #expect(range.count >= maxParallelism / parallelism)
            #expect(range.count <= maxParallelism / parallelism + 1)
            next = range.end
        }
        #expect(next == maxParallelism)
    }

    @Test func rangeContainsIsHalfOpen() {
        let range = KeyGroupRange(start: 10, end: 20)
        #expect(!range.contains(9))
        #expect(range.contains(10))
        #expect(range.contains(19))
        #expect(!range.contains(20))
    }
}

@Suite struct LimitsTests {
    @Test func limitsRelate() {
        // Key groups are stored as two bytes.
        #expect(Limits.maxParallelismMax <= 1 << 16)
        #expect(Limits.maxParallelismDefault <= Limits.maxParallelismMax)
        // A TTL added to a millisecond timestamp of this century must not overflow Int64.
        #expect(Limits.timeToLiveMillisecondsMax < Int64.max - 4_102_444_800_000)
        #expect(Limits.stateNameBytesMax < 255)  // file-name component
        #expect(Limits.valueBytesMax < Int(UInt32.max))
    }
}
