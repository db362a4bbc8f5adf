import RocksKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The keys a table replay's newer chunks settle: their last change there leaves a value or its absence whatever
/// came before (a put, a delete, a clear), so an older chunk need not write them at all. Sorted in the replay's key
/// order (`compare`: column, then the key's bytes, a key before its extensions; the replay's sort and its
/// same-key test use it too) and free of repeats.
///
/// A key is its column, its first 16 bytes as two big-endian words (zero-padded), its length, and — when longer
/// than 16 bytes — the rest of its bytes in `tails`.
struct SettledKeys: Sendable {
    /// One settled key (32 bytes).
    struct Key: Sendable {
        var high: UInt64
        var low: UInt64
        var column: UInt32
        var count: UInt32
        /// Where the bytes after the first 16 start in `tails` (keys longer than 16 bytes only).
        var tail: UInt32
    }

    /// A key to compare: its sort fields, and its bytes after the first 16 (`nil` when there are none).
    struct View {
        var column: UInt32
        var high: UInt64
        var low: UInt64
        var count: UInt32
        var tail: UnsafeRawPointer?
    }

    private(set) var keys: [Key] = []
    private(set) var tails: [UInt8] = []

    /// The number of keys.
    var count: Int { self.keys.count }

    /// Reserves room for `count` keys (in huge pages where the kernel allows them, `HugePages`).
    mutating func reserve(_ count: Int) {
        self.keys.reserveCapacity(count)
        HugePages.advise(&self.keys)
    }

    /// Appends a key greater than every key so far; `tail` holds its bytes after the first 16.
    mutating func append(column: UInt32, high: UInt64, low: UInt64, count: UInt32, tail: UnsafeRawBufferPointer) {
        self.keys.append(Key(high: high, low: low, column: column, count: count, tail: UInt32(self.tails.count)))
        if count > 16 { self.tails.append(contentsOf: tail) }
    }

    /// Three-way comparison in the replay's key order: column, the first 16 bytes, the bytes after them (over the
    /// shorter's length), then the length.
    @inline(__always)
    static func compare(_ a: View, _ b: View) -> Int {
        if a.column != b.column { return a.column < b.column ? -1 : 1 }
        if a.high != b.high { return a.high < b.high ? -1 : 1 }
        if a.low != b.low { return a.low < b.low ? -1 : 1 }
        let common = Int(min(a.count, b.count)) - 16
        if common > 0, let x = a.tail, let y = b.tail {
            let order = memcmp(x, y, common)
            if order != 0 { return Int(order) }
        }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }

    /// The key at `index` as a view; `tails` is `self.tails`' storage.
    @inline(__always)
    func view(_ index: Int, tails: UnsafeRawBufferPointer) -> View {
        let key = self.keys[index]
        return View(
            column: key.column, high: key.high, low: key.low, count: key.count,
            tail: key.count > 16 ? tails.baseAddress! + Int(key.tail) : nil)
    }

    /// Moves `position` forward to the first key not less than `key` (keys are looked up in ascending order, so a
    /// cursor only moves forward: gallops, then a binary search), and tells whether that key equals it.
    func contains(_ key: View, from position: inout Int, tails: UnsafeRawBufferPointer) -> Bool {
        guard position < self.keys.count else { return false }
        let here = Self.compare(self.view(position, tails: tails), key)
        if here >= 0 { return here == 0 }
        // keys[low] < key; find a bound with keys[high] >= key (or the end).
        var low = position
        var step = 1
        var high = position + 1
        while high < self.keys.count && Self.compare(self.view(high, tails: tails), key) < 0 {
            low = high
            step *= 2
            high = low + step
        }
        high = min(high, self.keys.count)
        while high - low > 1 {
            let middle = (low + high) / 2
            if Self.compare(self.view(middle, tails: tails), key) < 0 { low = middle } else { high = middle }
        }
        position = high
        return high < self.keys.count && Self.compare(self.view(high, tails: tails), key) == 0
    }

    /// The union of sorted sets of keys none of which holds a key of another.
    static func merged(_ sets: [SettledKeys]) -> SettledKeys {
        var sets = sets.filter { $0.count > 0 }
        while sets.count > 1 {
            let right = sets.removeLast()
            let left = sets.removeLast()
            sets.append(Self.merged(left, right))
        }
        return sets.first ?? SettledKeys()
    }

    private static func merged(_ left: SettledKeys, _ right: SettledKeys) -> SettledKeys {
        var result = SettledKeys()
        result.reserve(left.count + right.count)
        result.tails = left.tails + right.tails
        let shift = UInt32(left.tails.count)
        left.tails.withUnsafeBytes { leftTails in
            right.tails.withUnsafeBytes { rightTails in
                var i = 0
                var j = 0
                while i < left.count && j < right.count {
                    if Self.compare(left.view(i, tails: leftTails), right.view(j, tails: rightTails)) < 0 {
                        result.keys.append(left.keys[i])
                        i += 1
                    } else {
                        var key = right.keys[j]
                        key.tail += shift
                        result.keys.append(key)
                        j += 1
                    }
                }
                result.keys.append(contentsOf: left.keys[i...])
                for var key in right.keys[j...] {
                    key.tail += shift
                    result.keys.append(key)
                }
            }
        }
        return result
    }
}
