/// Appends bytes: fixed-width big-endian integers, LEB128 varints and byte runs. Reusable: `removeAll()` keeps
/// the capacity, so a hot path that reuses one writer does not allocate.
public struct ByteWriter: Sendable {
    @usableFromInline var _bytes: [UInt8]
    /// The bytes written so far.
    @inlinable public var bytes: [UInt8] { self._bytes }

    /// Creates an empty writer with room for `capacity` bytes.
    public init(capacity: Int = 64) {
        self._bytes = []
        self._bytes.reserveCapacity(capacity)
    }

    /// The number of bytes written.
    @inlinable public var count: Int { self._bytes.count }

    /// Forgets the bytes but keeps the capacity.
    @inlinable
    public mutating func removeAll() { self._bytes.removeAll(keepingCapacity: true) }

    /// Hands the bytes written so far over without copying them, and goes on writing into `storage` (emptied, its
    /// capacity kept): two buffers can alternate between a writer and whoever consumes its bytes without
    /// allocating.
    public mutating func take(continuingIn storage: consuming [UInt8]) -> [UInt8] {
        var next = consume storage  // moved, not copied: emptying it then keeps its buffer in place
        next.removeAll(keepingCapacity: true)
        swap(&next, &self._bytes)
        return next
    }

    /// Drops bytes after the first `count`.
    /// - Precondition: `count <= self.count`.
    @inlinable
    public mutating func truncate(to count: Int) {
        precondition(count <= self._bytes.count, "cannot truncate a writer beyond its length")
        self._bytes.removeSubrange(count...)
    }

    /// Appends one byte.
    @inlinable
    public mutating func writeUInt8(_ value: UInt8) { self._bytes.append(value) }

    /// Appends a fixed-width integer in big-endian order, so byte order equals numeric order for unsigned values.
    @inlinable
    public mutating func writeInteger<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { self._bytes.append(contentsOf: $0) }
    }

    /// Appends an unsigned LEB128 varint (1 to 10 bytes).
    @inlinable
    public mutating func writeVarint(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            self._bytes.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        self._bytes.append(UInt8(remaining))
    }

    /// Appends bytes.
    @inlinable
    public mutating func writeBytes(_ value: some Sequence<UInt8>) { self._bytes.append(contentsOf: value) }

    /// Appends a varint length and then the bytes.
    @inlinable
    public mutating func writeLengthPrefixed(_ value: [UInt8]) {
        self.writeVarint(UInt64(value.count))
        self._bytes.append(contentsOf: value)
    }

    /// Appends a string's UTF-8 bytes (no length).
    @inlinable
    public mutating func writeString(_ value: String) {
        var value = value
        value.withUTF8 { self._bytes.append(contentsOf: $0) }
    }
}
