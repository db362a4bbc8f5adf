/// One stored key of one state (its column), as the store holds it: what a change touched.
package struct RawStateKey: Hashable, Sendable {
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
}
