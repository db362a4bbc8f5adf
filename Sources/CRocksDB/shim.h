#ifndef WEIR_CROCKSDB_SHIM_H
#define WEIR_CROCKSDB_SHIM_H
// RocksDB's C API (Debian librocksdb-dev 7.8.3). Only the RocksKit module imports this.
#include <rocksdb/c.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

// CRC-32C with the CPU's crc32 instruction (SSE 4.2), as RocksDB itself checksums its files; its C API does not
// export RocksDB's own, so these few lines stand in. RocksKit wraps them (`HardwareCRC32C`).
#if defined(__x86_64__)
#include <cpuid.h>

/// 1 when the CPU has SSE 4.2's crc32 instruction.
static inline int weir_crc32c_hardware(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c & bit_SSE4_2) != 0;
}

/// Extends the CRC-32C register `crc` (pre-inverted, as the instruction keeps it) over `n` bytes at `p`.
/// Call only when `weir_crc32c_hardware()` is 1.
__attribute__((target("sse4.2")))
static inline uint32_t weir_crc32c_extend(uint32_t crc, const void *p, size_t n) {
    const unsigned char *bytes = (const unsigned char *)p;
    uint64_t wide = crc;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        wide = __builtin_ia32_crc32di(wide, word);
        bytes += 8;
        n -= 8;
    }
    uint32_t narrow = (uint32_t)wide;
    while (n > 0) {
        narrow = __builtin_ia32_crc32qi(narrow, *bytes);
        bytes += 1;
        n -= 1;
    }
    return narrow;
}
#else
static inline int weir_crc32c_hardware(void) { return 0; }
static inline uint32_t weir_crc32c_extend(uint32_t crc, const void *p, size_t n) { (void)p; (void)n; return crc; }
#endif

#include <malloc.h>

/// Bytes glibc's allocator has handed out and not had back (in-use small blocks plus mmap'ed large ones).
static inline size_t weir_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

/// Bytes glibc's allocator holds but has not handed out (free blocks in its arenas).
static inline size_t weir_heap_free(void) {
    struct mallinfo2 info = mallinfo2();
    return info.fordblks;
}

/// Caps the arenas glibc's allocator creates at `count` (`mallopt(M_ARENA_MAX)`); 1 on success.
static inline int weir_heap_limit_arenas(int count) { return mallopt(M_ARENA_MAX, count); }

/// Fixes the size from which glibc serves a block with its own mmap (`mallopt(M_MMAP_THRESHOLD)`), which also
/// stops glibc from raising it (and the trim threshold) after each large free; 1 on success.
static inline int weir_heap_mmap_threshold(int bytes) { return mallopt(M_MMAP_THRESHOLD, bytes); }

/// Returns the free pages of every arena to the kernel (`malloc_trim(0)`); 1 when memory was released.
static inline int weir_heap_trim(void) { return malloc_trim(0); }

/// Asks the CPU to bring the cache line at `p` in for reading (no fault, no effect on results).
static inline void weir_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif
