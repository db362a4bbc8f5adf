import CRocksDB
import StateCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Decides, during compaction, whether an entry is dropped. Filters only remove entries, never rewrite them (the
/// 7.8.3 C API would leave a rewritten value's buffer to the caller).
///
/// RocksDB calls `shouldRemove` on its background threads, concurrently, so implementations must be thread-safe.
public protocol CompactionFilter: AnyObject, Sendable {
    /// A stable name recorded by RocksDB.
    var name: String { get }
    /// Whether to drop the entry.
    /// - Parameters:
    ///   - key: The entry's key; valid only during the call.
    ///   - value: The entry's value; valid only during the call.
    /// - Returns: `true` to drop the entry.
    func shouldRemove(key: ByteReader, value: ByteReader) -> Bool
}

/// Owns one `rocksdb_compactionfilter_t` and the Swift filter it calls. RocksDB does not take ownership of
/// compaction filters, so the database destroys this after it closes.
final class CompactionFilterHandle {
    let handle: OpaquePointer

    init(_ filter: any CompactionFilter) {
        let box = CompactionFilterBox(filter)
        self.handle = rocksdb_compactionfilter_create(
            Unmanaged.passRetained(box).toOpaque(),
            { state in
                if let state { Unmanaged<CompactionFilterBox>.fromOpaque(state).release() }
            },
            { state, _, key, keyLength, value, valueLength, _, _, _ in
                guard let state else { return 0 }
                let box = Unmanaged<CompactionFilterBox>.fromOpaque(state).takeUnretainedValue()
                let keyReader = ByteReader(unsafeBytes: UnsafeRawBufferPointer(start: key, count: keyLength))
                let valueReader = ByteReader(unsafeBytes: UnsafeRawBufferPointer(start: value, count: valueLength))
                return box.filter.shouldRemove(key: keyReader, value: valueReader) ? 1 : 0
            },
            { state in
                guard let state else { return nil }
                return UnsafePointer(Unmanaged<CompactionFilterBox>.fromOpaque(state).takeUnretainedValue().name)
            }
        )
    }

    deinit { rocksdb_compactionfilter_destroy(self.handle) }
}

/// Keeps the filter and its C name alive for as long as RocksDB holds the filter.
private final class CompactionFilterBox {
    let filter: any CompactionFilter
    let name: UnsafeMutablePointer<CChar>

    init(_ filter: any CompactionFilter) {
        self.filter = filter
        self.name = strdup(filter.name)
    }

    deinit { free(self.name) }
}
