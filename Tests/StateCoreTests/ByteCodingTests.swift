import StateCore
import Testing

@Suite struct ByteCodingTests {
    @Test(arguments: [UInt64(0), 1, 127, 128, 300, 16_383, 16_384, UInt64(UInt32.max), UInt64.max])
    func varintRoundTrips(value: UInt64) throws {
        var writer = ByteWriter()
        writer.writeVarint(value)
        let decoded = try ByteReader.withReader(over: writer.bytes) { reader throws(ByteReader.Error) in
            let value = try reader.readVarint()
            #expect(reader.isAtEnd)
            return value
        }
        #expect(decoded == value)
    }

    @Test func integersAreBigEndian() throws {
        var writer = ByteWriter()
        writer.writeInteger(UInt32(0x0102_0304))
        writer.writeInteger(Int16(-2))
        #expect(writer.bytes == [1, 2, 3, 4, 0xFF, 0xFE])
        let (a, b) = try ByteReader.withReader(over: writer.bytes) { reader throws(ByteReader.Error) in
            (try reader.readInteger(as: UInt32.self), try reader.readInteger(as: Int16.self))
        }
        #expect(a == 0x0102_0304)
        #expect(b == -2)
    }

    @Test func truncatedReadNamesOffsetAndCounts() {
        #expect(throws: ByteReader.Error.truncated(offset: 1, needed: 8, available: 2)) {
            try ByteReader.withReader(over: [0, 1, 2]) { reader throws(ByteReader.Error) in
                _ = try reader.readUInt8()
                _ = try reader.readInteger(as: UInt64.self)
            }
        }
    }

    @Test func overlongVarintIsRejected() {
        let bytes = [UInt8](repeating: 0xFF, count: 11)
        #expect(throws: ByteReader.Error.malformedVarint(offset: 0)) {
            try ByteReader.withReader(over: bytes) { reader throws(ByteReader.Error) in _ = try reader.readVarint() }
        }
    }

    @Test func lengthLargerThanRemainingIsTruncation() {
        #expect(throws: ByteReader.Error.self) {
            try ByteReader.withReader(over: [0x05, 1, 2]) { reader throws(ByteReader.Error) in
                _ = try reader.readLength()
            }
        }
    }

    @Test func invalidUTF8IsRejected() {
        #expect(throws: ByteReader.Error.invalidValue(offset: 0, what: "UTF-8 string")) {
            try ByteReader.withReader(over: [0xC3, 0x28]) { reader throws(ByteReader.Error) in
                _ = try reader.readString(count: 2)
            }
        }
    }
}

/// Combining CRC-32Cs of two parts gives the CRC-32C of the whole, at any split.
@Suite struct CRC32CCombineTests {
    @Test func combineEqualsTheChecksumOfTheConcatenation() {
        var random = SeededGenerator(seed: 3)
        let bytes = (0..<5_000).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        for split in [0, 1, 7, 8, 9, 100, 2_499, 4_999, 5_000] {
            let a = Array(bytes[..<split])
            let b = Array(bytes[split...])
            #expect(CRC32C.combine(CRC32C.checksum(a), CRC32C.checksum(b), lengthB: b.count) == CRC32C.checksum(bytes), "split at \(split)")
        }
        #expect(CRC32C.combine(CRC32C.checksum(Array("1234".utf8)), CRC32C.checksum(Array("56789".utf8)), lengthB: 5) == 0xE306_9283)
    }
}
