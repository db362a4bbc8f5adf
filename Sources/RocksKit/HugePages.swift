#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Asks the kernel to back a large buffer with transparent huge pages (2 MiB) where it allows them
/// (`/sys/kernel/mm/transparent_hugepage/enabled` set to `madvise` or `always`). Filling a fresh buffer of tens of
/// megabytes otherwise takes a page fault per 4 KiB, which costs more than the copying itself. A hint only: it
/// changes no contents and no result, and is ignored where huge pages are off or unsupported.
package enum HugePages {
    /// Buffers smaller than this are left alone (they would not span a whole huge page worth advising).
    package static var threshold: Int { 8 << 20 }

    /// Advises huge pages for the storage of `array` up to its capacity (the part not yet written, too).
    package static func advise<Element>(_ array: inout [Element]) {
        let bytes = array.capacity * MemoryLayout<Element>.stride
        guard bytes >= Self.threshold else { return }
        array.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            Self.advise(UnsafeMutableRawPointer(base), count: bytes)
        }
    }

    /// Advises huge pages for the whole huge pages within `count` bytes at `address`.
    private static func advise(_ address: UnsafeMutableRawPointer, count: Int) {
        #if os(Linux)
        let huge = 2 << 20
        let start = (Int(bitPattern: address) + huge - 1) & ~(huge - 1)
        let end = (Int(bitPattern: address) + count) & ~(huge - 1)
        guard end > start, let aligned = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(aligned, end - start, MADV_HUGEPAGE)
        #endif
    }
}
