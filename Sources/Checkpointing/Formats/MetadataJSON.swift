#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StateCore

/// The JSON body of a `_metadata` file, byte for byte what `JSONEncoder` with sorted keys writes, with the
/// backends' changelog section lists written directly.
///
/// A changelog checkpoint lists every section since the last materialization: one per upload, about six a second
/// at 50,000 changes/s, so thousands with a 10-minute materialization interval. `JSONEncoder` takes ~12 µs per
/// section (2 ms at 170, on every checkpoint); writing them here takes well under a microsecond each. The rest of
/// the metadata (state schemas, materialized files, tasks) is small and still goes through `JSONEncoder`.
/// Checking every section's path and encoding every section again made checkpoints grow by ~0.2 ms per second of
/// the materialization interval; with this, `SectionListCache` and the storage's verified paths they do not.
enum MetadataJSON {
    /// The body of `metadata`. With `cache`, section lists reuse the JSON of the sections the previous body for
    /// the same backend listed too; without, every list is written in full.
    static func body(of metadata: CheckpointMetadata, cache: SectionListCache? = nil) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var stripped = metadata
        for index in stripped.backends.indices { stripped.backends[index].changelog = [] }
        guard let data = try? encoder.encode(stripped) else { return [] }
        let json = [UInt8](data)
        // With sorted keys, "backends" comes first at the top level and "backendID" (a string) is the only key
        // before "changelog" in a backend: the first occurrences of `"changelog":[]` are the backends' lists, in
        // order. The pattern cannot occur inside a string (its quotes would be escaped).
        let marker = Array(#""changelog":[]"#.utf8)
        var body: [UInt8] = []
        body.reserveCapacity(json.count + metadata.backends.reduce(0) { $0 + 200 * $1.changelog.count })
        let lists = cache ?? SectionListCache()
        var copied = 0
        var searchFrom = 0
        for backend in metadata.backends {
            guard let at = json[searchFrom...].firstRange(of: marker)?.lowerBound else {
                // Not the layout expected (a different encoder): encode it all the slow way.
                return (try? encoder.encode(metadata)).map { [UInt8]($0) } ?? []
            }
            let listStart = at + marker.count - 1  // at the closing bracket
            body.append(contentsOf: json[copied..<listStart])
            lists.append(backend.changelog, backendID: backend.backendID, to: &body)
            copied = listStart
            searchFrom = listStart
        }
        body.append(contentsOf: json[copied...])
        return body
    }

    /// `{"count":…,"file":{…},"firstSQN":…,"length":…,"offset":…}`.
    static func append(_ section: ChangelogSectionHandle, to body: inout [UInt8]) {
        Self.raw(#"{"count":"#, &body)
        Self.number(section.count, &body)
        Self.raw(#","file":{"crc32c":"#, &body)
        Self.number(section.file.crc32c, &body)
        if let localName = section.file.localName {
            Self.raw(#","localName":"#, &body)
            Self.string(localName, &body)
        }
        Self.raw(#","path":"#, &body)
        Self.string(section.file.path, &body)
        Self.raw(#","size":"#, &body)
        Self.number(section.file.size, &body)
        Self.raw(#"},"firstSQN":"#, &body)
        Self.number(section.firstSQN, &body)
        Self.raw(#","length":"#, &body)
        Self.number(section.length, &body)
        Self.raw(#","offset":"#, &body)
        Self.number(section.offset, &body)
        body.append(UInt8(ascii: "}"))
    }

    private static func raw(_ text: StaticString, _ body: inout [UInt8]) {
        text.withUTF8Buffer { body.append(contentsOf: $0) }
    }

    private static func number(_ value: some BinaryInteger, _ body: inout [UInt8]) {
        body.append(contentsOf: String(value).utf8)
    }

    /// A JSON string as `JSONEncoder` escapes it: quote, backslash and slash escaped, the control characters
    /// with short escapes where JSON has them and `\u00xx` otherwise, everything else as UTF-8.
    static func string(_ value: String, _ body: inout [UInt8]) {
        body.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): Self.raw(#"\""#, &body)
            case UInt8(ascii: "\\"): Self.raw(#"\\"#, &body)
            case UInt8(ascii: "/"): Self.raw(#"\/"#, &body)
            case 0x08: Self.raw(#"\b"#, &body)
            case 0x0C: Self.raw(#"\f"#, &body)
            case 0x0A: Self.raw(#"\n"#, &body)
            case 0x0D: Self.raw(#"\r"#, &body)
            case 0x09: Self.raw(#"\t"#, &body)
            case 0..<0x20:
                Self.raw(#"\u00"#, &body)
                body.append(contentsOf: [byte].hexString.utf8)
            default: body.append(byte)
            }
        }
        body.append(UInt8(ascii: "\""))
    }
}
