extension Sequence where Element == UInt8 {
    /// The bytes as lowercase hexadecimal, two digits each (for messages and tools).
    public var hexString: String {
        if let fast = self.withContiguousStorageIfAvailable({ Hex.encode(UnsafeRawBufferPointer($0)) }) { return fast }
        return Array(self).withUnsafeBytes { Hex.encode($0) }
    }
}

/// Lowercase hexadecimal encoding.
enum Hex {
    private static let digits: StaticString = "0123456789abcdef"

    /// `bytes` as lowercase hexadecimal, written straight into the string's storage.
    static func encode(_ bytes: UnsafeRawBufferPointer) -> String {
        guard bytes.count > 0 else { return "" }
        return String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            let digits = Self.digits.utf8Start
            var at = 0
            for byte in bytes {
                out[at] = digits[Int(byte >> 4)]
                out[at + 1] = digits[Int(byte & 0x0F)]
                at += 2
            }
            return at
        }
    }
}
