import Foundation
import RocksKit
import Testing

/// The allocator figures and settings `JobExecution` uses to keep resident memory flat across restarts.
@Suite(.serialized) struct ProcessHeapTests {
    @Test func inUseBytesCountsALiveAllocationAndNotAFreedOne() {
        let before = ProcessHeap.inUseBytes
        var buffer = [UInt8](repeating: 1, count: 64 << 20)
        let during = ProcessHeap.inUseBytes
        #expect(during - before >= 60 << 20, "64 MiB allocated: in use went \(before) → \(during)")
        buffer[0] = 2
        #expect(buffer[0] == 2)
        buffer = []
        // Other suites allocate in parallel: freed, the 64 MiB leave the figure unless something else took as much.
        #expect(ProcessHeap.inUseBytes < during)
    }

    @Test func trimReturnsThePagesOfFreedBlocksInsideAnArena() {
        let kept = Self.freeHolesInsideAnArena(megabytes: 64)
        #expect(ProcessHeap.freeBytes >= 60 << 20, "64 MB freed between kept blocks: \(ProcessHeap.freeBytes) B free")
        #expect(ProcessHeap.trim(), "malloc_trim released nothing")
        #expect(kept.allSatisfy { $0.first == 4 })
    }

    @Test func aManagedHeapReleasesFreedPages() {
        ProcessHeap.manage(arenas: 8)  // what JobExecution does (with 2); other suites' jobs manage it too
        #expect(ProcessHeap.isManaged)
        let kept = Self.freeHolesInsideAnArena(megabytes: 32)
        #expect(ProcessHeap.releaseFreedPages(), "32 MB freed between kept blocks, and nothing released")
        #expect(kept.allSatisfy { $0.first == 4 })
    }

    /// Allocates 16 KiB blocks (below glibc's mmap threshold) with a small block kept between each two, and frees
    /// the large ones: they leave holes inside the arena that free() itself never gives back (it only trims the
    /// arena's top). Returns the small blocks.
    private static func freeHolesInsideAnArena(megabytes: Int) -> [[UInt8]] {
        var large: [[UInt8]] = []
        var kept: [[UInt8]] = []
        for _ in 0..<(megabytes * 1024 / 16) {
            large.append([UInt8](repeating: 3, count: 16 << 10))
            kept.append([UInt8](repeating: 4, count: 64))
        }
        large = []
        return kept
    }

    @Test func limitArenasLeavesAnOperatorsEnvironmentAlone() {
        let set = ProcessHeap.limitArenas(8)
        #expect(set == (ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil))
        #expect(!ProcessHeap.limitArenas(0))
        let fixed = ProcessHeap.fixMmapThreshold(1 << 20)  // Limits.heapMmapThreshold
        #expect(fixed == (ProcessInfo.processInfo.environment["MALLOC_MMAP_THRESHOLD_"] == nil))
        #expect(!ProcessHeap.fixMmapThreshold(0))
    }
}
