import CRocksDB
import Foundation
import StateCore
import Synchronization

/// The process's C heap (glibc's allocator, which RocksDB and Swift share): its figures, and the settings that keep
/// a long-running job's resident memory flat (`manage(arenas:)`: the arena cap, a fixed mmap threshold, and trims
/// after large releases through `releaseFreedPages()`).
///
/// glibc gives each thread an arena (up to 8 per core, each growing to 64 MiB) and keeps memory freed in an
/// arena for reuse rather than returning it. A job that restarts starts new task threads, which may take arenas
/// no thread used before; RocksDB's memtable blocks and the changelog's buffers freed in them stay resident.
/// `limitArenas(_:)` caps their number, `fixMmapThreshold(_:)` keeps large blocks out of them, and `trim()` returns
/// their free pages. Flink's images face the same allocator with RocksDB and switch it to jemalloc; these do here
/// without a second allocator.
public enum ProcessHeap {
    /// Bytes handed out and not freed (glibc `mallinfo2`: in-use blocks plus mmap'ed large ones). Resident
    /// memory minus this is what the allocator keeps, plus what is mapped outside it.
    public static var inUseBytes: Int { Int(weir_heap_in_use()) }

    /// Bytes the allocator holds free in its arenas (glibc `mallinfo2().fordblks`).
    public static var freeBytes: Int { Int(weir_heap_free()) }

    /// Caps the allocator's arenas at `count` (`mallopt(M_ARENA_MAX)`), unless the environment sets
    /// `MALLOC_ARENA_MAX` (the operator's choice wins). Arenas created before stay; later threads share the
    /// capped set. - Returns: `true` when the cap was set.
    @discardableResult
    public static func limitArenas(_ count: Int) -> Bool {
        guard ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil, count > 0 else { return false }
        return weir_heap_limit_arenas(Int32(clamping: count)) == 1
    }

    /// Returns every arena's free pages to the kernel (`malloc_trim(0)`): after an attempt's threads ended and
    /// its buffers were freed. Takes each arena's lock in turn, for milliseconds.
    /// - Returns: `true` when memory was released.
    @discardableResult
    public static func trim() -> Bool { weir_heap_trim() == 1 }

    private static let managed = Atomic<Bool>(false)

    /// Takes over the heap for a long-running job: caps the arenas (`limitArenas(_:)`), fixes the mmap threshold
    /// (`fixMmapThreshold(_:)`, `Limits.heapMmapThreshold`) and from now on `releaseFreedPages()` trims.
    /// `JobExecution` calls it unless `JobConfiguration.heapArenas` is `nil`.
    public static func manage(arenas count: Int) {
        limitArenas(count)
        fixMmapThreshold(Limits.heapMmapThreshold)
        self.managed.store(true, ordering: .relaxed)
    }

    /// Serves blocks of `bytes` and more with an mmap of their own, returned to the kernel when freed, and stops
    /// glibc from raising that threshold after large frees (`mallopt(M_MMAP_THRESHOLD)`), unless the environment
    /// sets `MALLOC_MMAP_THRESHOLD_`. - Returns: `true` when the threshold was set.
    @discardableResult
    public static func fixMmapThreshold(_ bytes: Int) -> Bool {
        guard ProcessInfo.processInfo.environment["MALLOC_MMAP_THRESHOLD_"] == nil, bytes > 0 else { return false }
        return weir_heap_mmap_threshold(Int32(clamping: bytes)) == 1
    }

    /// Whether `manage(arenas:)` was called in this process.
    public static var isManaged: Bool { self.managed.load(ordering: .relaxed) }

    /// `trim()` when the heap is managed (`manage(arenas:)`), after a large release: a failed attempt's end, the
    /// close of a failed attempt's database (its block cache and memtables, up to ~100 MiB, which glibc would
    /// keep resident until the next restart). - Returns: `true` when memory was released.
    @discardableResult
    public static func releaseFreedPages() -> Bool { self.isManaged && self.trim() }
}
