extension CRC32C {
    /// The CRC-32C of `a ‖ b` from the CRC-32C of `a`, the CRC-32C of `b` and `b`'s length, without the bytes
    /// (zlib's `crc32_combine` method over GF(2), with the Castagnoli polynomial): lets large files be checksummed
    /// in chunks on several threads.
    public static func combine(_ crcA: UInt32, _ crcB: UInt32, lengthB: Int) -> UInt32 {
        guard lengthB > 0 else { return crcA }
        // `odd` starts as the operator for one zero bit, `even` for two.
        var odd = [UInt32](repeating: 0, count: 32)
        var even = [UInt32](repeating: 0, count: 32)
        odd[0] = 0x82F6_3B78
        var row: UInt32 = 1
        for n in 1..<32 {
            odd[n] = row
            row <<= 1
        }
        Self.square(&even, odd)
        Self.square(&odd, even)
        var crc = crcA
        var length = lengthB
        // Apply `lengthB` zero bytes to `crcA`, squaring the operator for each bit of the length.
        repeat {
            Self.square(&even, odd)
            if length & 1 != 0 { crc = Self.times(even, crc) }
            length >>= 1
            if length == 0 { break }
            Self.square(&odd, even)
            if length & 1 != 0 { crc = Self.times(odd, crc) }
            length >>= 1
        } while length != 0
        return crc ^ crcB
    }

    private static func times(_ matrix: [UInt32], _ vector: UInt32) -> UInt32 {
        var sum: UInt32 = 0
        var vector = vector
        var index = 0
        while vector != 0 {
            if vector & 1 != 0 { sum ^= matrix[index] }
            vector >>= 1
            index += 1
        }
        return sum
    }

    private static func square(_ result: inout [UInt32], _ matrix: [UInt32]) {
        for n in 0..<32 { result[n] = Self.times(matrix, matrix[n]) }
    }
}
