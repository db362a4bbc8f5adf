import RocksKit
import StateCore

/// Drops expired TTL entries during RocksDB compaction. Runs on RocksDB's threads; immutable, so thread-safe.
///
/// Layouts: `.single` values start with an 8-byte big-endian timestamp (value, reducing, aggregating state and
/// each map entry); `.list` values are framed elements `varint length ‖ timestamp ‖ element`, and the value is
/// dropped only when every element has expired (reads skip expired elements before that). List appends are merge
/// operands, which the 7.8.3 C API's filter does not see: a compaction folds them into a value, and the next
/// compaction filters that value.
final class TTLCompactionFilter: CompactionFilter {
    enum Layout: Sendable { case single, list }

    let ttl: StateTTL
    let layout: Layout
    let clock: any StateClock

    init(ttl: StateTTL, layout: Layout, clock: any StateClock) {
        self.ttl = ttl
        self.layout = layout
        self.clock = clock
    }

    var name: String { "weir.ttl.v1" }

    func shouldRemove(key: ByteReader, value: ByteReader) -> Bool {
        let now = self.clock.nowMilliseconds()
        var reader = value
        switch self.layout {
        case .single:
            guard let timestamp = try? reader.readInteger(as: Int64.self) else { return false }
            return self.ttl.isExpired(timestamp: timestamp, now: now)
        case .list:
            while !reader.isAtEnd {
                guard let length = try? reader.readLength(), var element = try? reader.readSlice(count: length),
                    let timestamp = try? element.readInteger(as: Int64.self)
                else { return false }  // unreadable: keep it, and let a read report the damage
                if !self.ttl.isExpired(timestamp: timestamp, now: now) { return false }
            }
            return true
        }
    }
}
