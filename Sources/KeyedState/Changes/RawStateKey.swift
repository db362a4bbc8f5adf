#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One stored key of one state (its column), as the store holds it: what a change touched. Ordered by column,
/// then byte-wise by key (RocksDB's order within a column family).
package struct RawStateKey: Hashable, Comparable, Sendable {
    /// The state's column.
    package var column: Int
    /// The stored key bytes (or a key prefix, where the user says so).
    package var key: [UInt8]

    /// Creates a key.
    package init(column: Int, key: [UInt8]) {
        self.column = column
        self.key = key
    }

    /// Hashes the key's bytes in one call (an array's own hashing feeds the hasher a byte at a time).
    package func hash(into hasher: inout Hasher) {
        hasher.combine(self.column)
        self.key.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    /// Column first, then the key's bytes as RocksDB's default comparator orders them.
    package static func < (lhs: RawStateKey, rhs: RawStateKey) -> Bool {
        lhs.column != rhs.column ? lhs.column < rhs.column : Self.precedes(lhs.key, rhs.key)
    }

    /// Byte-wise order (a shorter key before the longer ones it starts).
    private static func precedes(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        lhs.withUnsafeBytes { left in
            rhs.withUnsafeBytes { right in
                let common = min(left.count, right.count)
                let order = common == 0 ? 0 : memcmp(left.baseAddress!, right.baseAddress!, common)
                return order != 0 ? order < 0 : left.count < right.count
            }
        }
    }
}
