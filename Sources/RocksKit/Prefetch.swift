import CRocksDB

/// A hint to the CPU to load memory that will be read soon, for loops that visit large buffers in an order the
/// hardware prefetcher cannot guess (e.g. writing sorted entries whose bytes lie in arrival order).
package enum Prefetch {
    /// Starts loading the cache line at `address` for reading. Never faults and changes no result; an address
    /// that is not mapped is ignored.
    @inlinable
    package static func read(_ address: UnsafeRawPointer) {
        weir_prefetch(address)
    }
}
