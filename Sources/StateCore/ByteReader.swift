/// Reads bytes front to back: fixed-width big-endian integers, LEB128 varints and byte runs.
///
/// A reader is a view of memory it does not own (a RocksDB value, a decoded file): it is valid only inside the
/// closure that handed it out, and every value read from it is copied out. Reads past the end throw
/// `ByteReader.Error.truncated` with the offset; bytes are input, so nothing here traps on them.
public struct ByteReader {
    /// Why a read failed.
    public enum Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        /// `needed` bytes were asked for at `offset`, but only `available` remain.
        case truncated(offset: Int, needed: Int, available: Int)
        /// A varint at `offset` ran over 10 bytes or overflowed 64 bits.
        case malformedVarint(offset: Int)
        /// A value at `offset` is not valid for its type (e.g. a Bool byte of 7, invalid UTF-8).
        case invalidValue(offset: Int, what: String)

        /// A sentence naming the offset and the problem.
        public var description: String {
            switch self {
            case let .truncated(offset, needed, available):
                "truncated at byte \(offset): needed \(needed) bytes, \(available) remain"
            case let .malformedVarint(offset):
                "malformed varint at byte \(offset)"
            case let .invalidValue(offset, what):
                "invalid \(what) at byte \(offset)"
            }
        }
    }

    @usableFromInline let base: UnsafeRawBufferPointer
    /// The offset of the next byte to read.
    @usableFromInline var _offset: Int
    /// The offset of the next byte to read.
    @inlinable public var offset: Int { self._offset }

    /// Creates a reader over memory that outlives the reader. Only byte-owning modules (RocksKit, file readers)
    /// create readers this way.
    @inlinable
    package init(unsafeBytes: UnsafeRawBufferPointer) {
        self.base = unsafeBytes
        self._offset = 0
    }

    /// Runs `body` with a reader over `bytes`.
    /// - Parameters:
    ///   - bytes: The bytes to read.
    ///   - body: Reads; the reader must not escape.
    /// - Returns: What `body` returns.
    @inlinable
    public static func withReader<R, E: Swift.Error>(
        over bytes: [UInt8],
        _ body: (inout ByteReader) throws(E) -> R
    ) throws(E) -> R {
        let result: Result<R, E> = bytes.withUnsafeBytes { raw in
            var reader = ByteReader(unsafeBytes: raw)
            do throws(E) { return .success(try body(&reader)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// The total number of bytes in the view.
    @inlinable public var count: Int { self.base.count }
    /// The number of bytes not yet read.
    @inlinable public var remaining: Int { self.base.count - self._offset }
    /// Whether every byte has been read.
    @inlinable public var isAtEnd: Bool { self._offset >= self.base.count }

    @inlinable
    mutating func require(_ needed: Int) throws(Error) {
        guard needed >= 0, needed <= self.base.count - self._offset else {
            throw .truncated(offset: self._offset, needed: needed, available: self.base.count - self._offset)
        }
    }

    /// Reads one byte.
    @inlinable
    public mutating func readUInt8() throws(Error) -> UInt8 {
        try self.require(1)
        defer { self._offset += 1 }
        return self.base[self._offset]
    }

    /// Reads a big-endian fixed-width integer.
    @inlinable
    public mutating func readInteger<T: FixedWidthInteger>(as: T.Type = T.self) throws(Error) -> T {
        let size = MemoryLayout<T>.size
        try self.require(size)
        let value = self.base.loadUnaligned(fromByteOffset: self._offset, as: T.self)
        self._offset += size
        return T(bigEndian: value)
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes.
    @inlinable
    public mutating func readVarint() throws(Error) -> UInt64 {
        let start = self._offset
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard self._offset < self.base.count else {
                throw .truncated(offset: self._offset, needed: 1, available: 0)
            }
            let byte = self.base[self._offset]
            self._offset += 1
            if shift == 63 && byte > 1 { throw .malformedVarint(offset: start) }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw .malformedVarint(offset: start) }
        }
    }

    /// Reads a varint length and checks it against the remaining bytes.
    @inlinable
    public mutating func readLength() throws(Error) -> Int {
        let at = self._offset
        let length = try self.readVarint()
        guard length <= UInt64(self.remaining) else {
            throw .truncated(offset: at, needed: Int(clamping: length), available: self.remaining)
        }
        return Int(length)
    }

    /// Copies the next `count` bytes out.
    @inlinable
    public mutating func readBytes(count: Int) throws(Error) -> [UInt8] {
        try self.require(count)
        defer { self._offset += count }
        return [UInt8](UnsafeRawBufferPointer(rebasing: self.base[self._offset..<(self._offset + count)]))
    }

    /// Copies every byte not yet read.
    @inlinable
    public mutating func readRemainingBytes() -> [UInt8] {
        // `remaining` is never negative, so this cannot throw.
        (try? self.readBytes(count: self.remaining)) ?? []
    }

    /// Decodes the next `count` bytes as UTF-8.
    @inlinable
    public mutating func readString(count: Int) throws(Error) -> String {
        try self.require(count)
        let at = self._offset
        let slice = UnsafeRawBufferPointer(rebasing: self.base[self._offset..<(self._offset + count)])
        guard let string = String(validating: slice, as: UTF8.self) else {
            throw .invalidValue(offset: at, what: "UTF-8 string")
        }
        self._offset += count
        return string
    }

    /// Reads the next `count` bytes as lowercase hexadecimal (two digits each), without copying them first.
    public mutating func readHex(count: Int) throws(Error) -> String {
        try self.require(count)
        let slice = UnsafeRawBufferPointer(rebasing: self.base[self._offset..<(self._offset + count)])
        self._offset += count
        return Hex.encode(slice)
    }

    /// Skips `count` bytes.
    @inlinable
    public mutating func skip(_ count: Int) throws(Error) {
        try self.require(count)
        self._offset += count
    }

    /// A reader over the next `count` bytes, advancing this reader past them.
    @inlinable
    public mutating func readSlice(count: Int) throws(Error) -> ByteReader {
        try self.require(count)
        let slice = ByteReader(
            unsafeBytes: UnsafeRawBufferPointer(rebasing: self.base[self._offset..<(self._offset + count)]))
        self._offset += count
        return slice
    }

    /// Whether the unread bytes start with `prefix`.
    @inlinable
    public func hasPrefix(_ prefix: [UInt8]) -> Bool {
        guard prefix.count <= self.remaining else { return false }
        return prefix.withUnsafeBytes { p in
            p.count == 0 || memcmpBytes(p, UnsafeRawBufferPointer(rebasing: self.base[self._offset..<(self._offset + p.count)]))
        }
    }

    /// Compares the unread bytes with `bytes` for equality.
    @inlinable
    public func unreadBytesEqual(_ bytes: [UInt8]) -> Bool {
        self.remaining == bytes.count && self.hasPrefix(bytes)
    }
}

@inlinable
func memcmpBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    for i in 0..<a.count where a[i] != b[i] { return false }
    return true
}
