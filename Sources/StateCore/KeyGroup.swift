/// Assigns serialized keys to key groups with a hash that is the same on every machine, process and release.
///
/// The hash is MurmurHash3 x86_32 (seed 0) over the serialized key bytes, taken modulo `maxParallelism`.
/// Swift's `Hasher` is seeded per process and must never be used here.
public enum KeyGroup {
    /// The key group of a serialized key.
    /// - Parameters:
    ///   - serializedKey: The key as its serializer wrote it.
    ///   - maxParallelism: The number of key groups, in `1...Limits.maxParallelismMax`.
    /// - Returns: A key group in `0..<maxParallelism`.
    @inlinable
    public static func of(serializedKey: [UInt8], maxParallelism: Int) -> Int {
        Int(StableHash.murmur3(serializedKey) % UInt32(maxParallelism))
    }
}

/// Hashes whose values are fixed forever, for placement decisions that must agree across processes.
public enum StableHash {
    /// MurmurHash3 x86_32 of `bytes` with seed 0 (reference: Austin Appleby's public-domain `MurmurHash3.cpp`).
    @inlinable
    public static func murmur3(_ bytes: [UInt8], seed: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { raw in
            let c1: UInt32 = 0xcc9e_2d51
            let c2: UInt32 = 0x1b87_3593
            var h = seed
            let blocks = raw.count / 4
            for i in 0..<blocks {
                var k = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))
                k &*= c1
                k = (k << 15) | (k >> 17)
                k &*= c2
                h ^= k
                h = (h << 13) | (h >> 19)
                h = h &* 5 &+ 0xe654_6b64
            }
            var k: UInt32 = 0
            let tail = blocks * 4
            let rest = raw.count & 3
            if rest >= 3 { k ^= UInt32(raw[tail + 2]) << 16 }
            if rest >= 2 { k ^= UInt32(raw[tail + 1]) << 8 }
            if rest >= 1 {
                k ^= UInt32(raw[tail])
                k &*= c1
                k = (k << 15) | (k >> 17)
                k &*= c2
                h ^= k
            }
            h ^= UInt32(truncatingIfNeeded: raw.count)
            h ^= h >> 16
            h &*= 0x85eb_ca6b
            h ^= h >> 13
            h &*= 0xc2b2_ae35
            h ^= h >> 16
            return h
        }
    }
}
