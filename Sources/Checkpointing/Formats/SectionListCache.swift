import Synchronization

/// The section lists of the last metadata written, per backend, as `MetadataJSON` encoded them, so the next
/// checkpoint encodes only the sections added since. A changelog checkpoint lists every section since the
/// materialization: ~800 of them 10 s into a 4 KiB-record run, and each checkpoint re-listed them all (2–41 ms
/// measured, mostly waiting for a core). A list is the previous one minus a prefix (a materialization truncated
/// the changelog) plus new sections at the end; whatever else it is gets encoded in full.
final class SectionListCache: Sendable {
    private struct Entry {
        var sections: [ChangelogSectionHandle]
        /// The sections' JSON joined by commas.
        var bytes: [UInt8]
        /// Where each section's JSON starts in `bytes`.
        var starts: [Int]
    }

    private let entries = Mutex<[String: Entry]>([:])

    /// Appends the JSON of `sections` (joined by commas) to `body`, reusing what the last call for `backendID`
    /// encoded, and remembers this list for the next call.
    func append(_ sections: [ChangelogSectionHandle], backendID: String, to body: inout [UInt8]) {
        let previous = self.entries.withLock { $0[backendID] }
        var entry = Entry(sections: sections, bytes: [], starts: [])
        entry.bytes.reserveCapacity((previous?.bytes.count ?? 0) + 200 * sections.count)
        entry.starts.reserveCapacity(sections.count)
        var reused = 0
        if let previous, let first = sections.first, let from = previous.sections.firstIndex(of: first) {
            let overlap = min(previous.sections.count - from, sections.count)
            if previous.sections[from..<(from + overlap)].elementsEqual(sections[0..<overlap]) {
                let start = previous.starts[from]
                let end = from + overlap < previous.starts.count ? previous.starts[from + overlap] - 1 : previous.bytes.count
                entry.bytes.append(contentsOf: previous.bytes[start..<end])
                entry.starts = previous.starts[from..<(from + overlap)].map { $0 - start }
                reused = overlap
            }
        }
        for section in sections[reused...] {
            if !entry.bytes.isEmpty { entry.bytes.append(UInt8(ascii: ",")) }
            entry.starts.append(entry.bytes.count)
            MetadataJSON.append(section, to: &entry.bytes)
        }
        body.append(contentsOf: entry.bytes)
        self.entries.withLock { $0[backendID] = entry }
    }
}
