import CRocksDB
import StateCore

/// CRC-32C computed with the CPU's `crc32` instruction (SSE 4.2) where there is one — several times faster than
/// `StateCore.CRC32C`'s table-driven software, so checksumming a large file costs about as much as reading it —
/// and with `CRC32C` where there is none. Same results as `CRC32C` in every case.
///
/// The instruction is a `static inline` function in the CRocksDB shim (`weir_crc32c_extend`). Bulk checksums use
/// this type: changelog section payloads and segment files, state snapshot blocks and files, file copies,
/// `verify`. Small headers and metadata keep `StateCore.CRC32C`. Both give the same values, so which one wrote a
/// file never matters.
package enum HardwareCRC32C {
    /// Whether the CPU has the instruction (else every call falls back to `CRC32C`).
    package static let isAvailable: Bool = weir_crc32c_hardware() != 0

    /// The checksum of `bytes` (equal to `CRC32C.checksum(bytes)`).
    package static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard Self.isAvailable else { return CRC32C.checksum(bytes) }
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        return ~weir_crc32c_extend(0xFFFF_FFFF, base, bytes.count)
    }

    /// The checksum of `bytes` (equal to `CRC32C.checksum(bytes)`).
    package static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        let result = bytes.withContiguousStorageIfAvailable { Self.checksum(UnsafeRawBufferPointer($0)) }
        return result ?? CRC32C.checksum(bytes)
    }

    /// The checksum of `previous`'s bytes followed by `bytes`, from `previous` (the checksum so far; 0 for none).
    package static func extend(_ previous: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return previous }
        guard Self.isAvailable else { return CRC32C.combine(previous, CRC32C.checksum(bytes), lengthB: bytes.count) }
        return ~weir_crc32c_extend(~previous, base, bytes.count)
    }
}
