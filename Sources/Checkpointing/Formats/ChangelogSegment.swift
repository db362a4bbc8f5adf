import KeyedState
import RocksKit
import StateCore

/// A changelog segment file: the changes of one or more backends, each backend's in its own section.
///
/// Layout (`docs/FORMATS.md`, all integers big-endian): envelope (magic `WEIRCLOG`, version, flags), section
/// count (`UInt32`), CRC-32C of the 16 bytes before it; then each section: backend-id length (`UInt16`), backend
/// id (UTF-8), first SQN (`UInt64`), record count (`UInt32`), payload length (`UInt32`), payload CRC-32C, CRC-32C of
/// this section header so far, then the payload: records, each `kind (UInt8) ‖ column ‖ primary length ‖ key
/// length ‖ key ‖ value length ‖ value` with varint numbers. Record `i` of a section has SQN `firstSQN + i`.
package enum ChangelogSegment {
    /// One backend's sealed batch of records, ready to be written.
    struct Section: Sendable {
        var backendID: String
        var firstSQN: UInt64
        var count: Int
        var payload: [UInt8]
    }

    /// One decoded record.
    package struct Record: Sendable, Equatable {
        package var sqn: UInt64
        package var kind: StateChangeKind
        package var column: Int
        package var primaryLength: Int
        package var key: [UInt8]
        package var value: [UInt8]
    }

    /// One decoded record as positions in its section's bytes (nothing copied).
    package struct RecordSpan: Sendable, Equatable {
        package var sqn: UInt64
        package var kind: StateChangeKind
        package var column: Int
        package var primaryLength: Int
        /// The key: `keyCount` bytes at `keyOffset` of the section's bytes.
        package var keyOffset: Int
        package var keyCount: Int
        /// The value: `valueCount` bytes at `valueOffset` of the section's bytes.
        package var valueOffset: Int
        package var valueCount: Int
    }

    /// The segment files whose envelope a reader has checked: magic, version and header checksum are read once
    /// per file, before its first section (a section is read at its handle's offset, past the envelope).
    package struct EnvelopeCheck: Sendable {
        private var checked: Set<String> = []

        /// An empty set.
        package init() {}

        /// Checks `path`'s envelope unless it was checked before.
        /// - Throws: `.corrupt` (magic, short file, header checksum) or `.unsupportedVersion`, naming the file.
        package mutating func check(_ path: String, fileSystem: any CheckpointFileSystem) throws(CheckpointError) {
            guard !self.checked.contains(path) else { return }
            let header = try fileSystem.read(path, offset: 0, count: 20)
            try ByteReader.withReader(over: header) { reader throws(CheckpointError) in
                _ = try FormatEnvelope.changelogSegment.readHeader(&reader, path: path)
                _ = try reader.readField(UInt32.self, path: path, what: "section count")
                let crc = try reader.readField(UInt32.self, path: path, what: "header checksum")
                guard crc == CRC32C.checksum(header[0..<16]) else {
                    throw CheckpointError(
                        code: .corrupt,
                        message: "\(path): the changelog segment header (bytes 0..<16) fails its checksum; the segment "
                            + "is damaged: restore an older checkpoint", path: path, offset: 16)
                }
            }
            self.checked.insert(path)
        }
    }

    /// Appends one record to a section payload.
    @inline(__always)
    static func appendRecord(
        _ kind: UInt8, column: Int, key: [UInt8], primaryLength: Int, value: [UInt8], to writer: inout ByteWriter
    ) {
        writer.writeUInt8(kind)
        writer.writeVarint(UInt64(column))
        writer.writeVarint(UInt64(primaryLength))
        writer.writeVarint(UInt64(key.count))
        writer.writeBytes(key)
        writer.writeVarint(UInt64(value.count))
        writer.writeBytes(value)
    }

    /// The file's bytes and where each section landed (offset, length).
    static func encode(_ sections: [Section]) -> (bytes: [UInt8], ranges: [(offset: Int, length: Int)]) {
        var writer = ByteWriter(capacity: sections.reduce(64) { $0 + $1.payload.count + 64 })
        FormatEnvelope.changelogSegment.writeHeader(into: &writer)
        writer.writeInteger(UInt32(sections.count))
        writer.writeInteger(CRC32C.checksum(writer.bytes))
        var ranges: [(Int, Int)] = []
        for section in sections {
            let start = writer.count
            let id = Array(section.backendID.utf8)
            writer.writeInteger(UInt16(id.count))
            writer.writeBytes(id)
            writer.writeInteger(section.firstSQN)
            writer.writeInteger(UInt32(section.count))
            writer.writeInteger(UInt32(section.payload.count))
            writer.writeInteger(HardwareCRC32C.checksum(section.payload))
            writer.writeInteger(CRC32C.checksum(writer.bytes[start...]))
            writer.writeBytes(section.payload)
            ranges.append((start, writer.count - start))
        }
        return (writer.bytes, ranges)
    }

    /// Decodes the records of the section `handle` names, checking it belongs to `backendID`.
    /// - Parameters:
    ///   - bytes: The section's bytes (`handle.offset ..< handle.offset + handle.length` of the file).
    ///   - path: The file's path, for messages.
    /// - Throws: `CheckpointError` `.corrupt` naming file, offset and SQN range.
    package static func records(
        ofSection bytes: [UInt8], handle: ChangelogSectionHandle, backendID: String, path: String,
        _ body: (Record) throws(CheckpointError) -> Void
    ) throws(CheckpointError) {
        try Self.spans(ofSection: bytes, handle: handle, backendID: backendID, path: path) { span throws(CheckpointError) in
            try body(Record(
                sqn: span.sqn, kind: span.kind, column: span.column, primaryLength: span.primaryLength,
                key: Array(bytes[span.keyOffset..<span.keyOffset + span.keyCount]),
                value: Array(bytes[span.valueOffset..<span.valueOffset + span.valueCount])))
        }
    }

    /// Decodes the records of the section `handle` names as spans of `bytes` (no copies), checking it belongs to
    /// `backendID` and that its checksums hold.
    /// - Throws: `CheckpointError` `.corrupt` naming file, offset and SQN range.
    package static func spans(
        ofSection bytes: [UInt8], handle: ChangelogSectionHandle, backendID: String, path: String,
        _ body: (RecordSpan) throws(CheckpointError) -> Void
    ) throws(CheckpointError) {
        let base = handle.offset
        let sqnRange = "SQN \(handle.firstSQN)..<\(handle.endSQN)"
        try ByteReader.withReader(over: bytes) { reader throws(CheckpointError) in
            let idLength = Int(try reader.readField(UInt16.self, path: path, what: "section backend-id length"))
            let id = String(decoding: try reader.readBytesField(count: idLength, path: path, what: "backend id"), as: UTF8.self)
            let firstSQN = try reader.readField(UInt64.self, path: path, what: "section first SQN")
            let count = Int(try reader.readField(UInt32.self, path: path, what: "section record count"))
            let payloadLength = Int(try reader.readField(UInt32.self, path: path, what: "section payload length"))
            let payloadCRC = try reader.readField(UInt32.self, path: path, what: "section payload checksum")
            let headerEnd = reader.offset
            let headerCRC = try reader.readField(UInt32.self, path: path, what: "section header checksum")
            guard headerCRC == CRC32C.checksum(bytes[0..<headerEnd]) else {
                throw CheckpointError(
                    code: .corrupt,
                    message: "\(path): changelog section header at offset \(base) (\(sqnRange)) fails its checksum; "
                        + "the segment is damaged", path: path, offset: base, sqn: handle.firstSQN)
            }
            guard id == backendID, firstSQN == handle.firstSQN, count == handle.count,
                payloadLength == reader.remaining
            else {
                throw CheckpointError(
                    code: .corrupt,
                    message: "\(path): the section at offset \(base) holds backend '\(id)' SQN \(firstSQN) x\(count) "
                        + "(\(payloadLength) bytes); the checkpoint expects '\(backendID)' \(sqnRange) "
                        + "(\(handle.length) bytes). The checkpoint metadata and the segment disagree.",
                    path: path, offset: base, sqn: handle.firstSQN)
            }
            let payloadStart = reader.offset
            guard payloadCRC == HardwareCRC32C.checksum(bytes[payloadStart...]) else {
                throw CheckpointError(
                    code: .corrupt,
                    message: "\(path): changelog records at offset \(base + payloadStart) (\(sqnRange)) fail their "
                        + "checksum; the segment is damaged", path: path, offset: base + payloadStart,
                    sqn: handle.firstSQN)
            }
            for index in 0..<count {
                let sqn = firstSQN + UInt64(index)
                let at = base + reader.offset
                func field(_ what: String) throws(CheckpointError) -> Int {
                    do { return Int(try reader.readVarint()) } catch {
                        throw CheckpointError(
                            code: .corrupt, message: "\(path): record SQN \(sqn) at offset \(at): \(what) is invalid",
                            path: path, offset: at, sqn: sqn)
                    }
                }
                let kindByte = (try? reader.readUInt8()) ?? 0
                guard let kind = StateChangeKind(rawValue: kindByte) else {
                    throw CheckpointError(
                        code: .corrupt, message: "\(path): record SQN \(sqn) at offset \(at) has unknown kind \(kindByte)",
                        path: path, offset: at, sqn: sqn)
                }
                let column = try field("column")
                let primaryLength = try field("primary length")
                let keyLength = try field("key length")
                let keyOffset = reader.offset
                try reader.skipField(count: keyLength, path: path, what: "record SQN \(sqn) key")
                let valueLength = try field("value length")
                let valueOffset = reader.offset
                try reader.skipField(count: valueLength, path: path, what: "record SQN \(sqn) value")
                try body(RecordSpan(
                    sqn: sqn, kind: kind, column: column, primaryLength: primaryLength, keyOffset: keyOffset,
                    keyCount: keyLength, valueOffset: valueOffset, valueCount: valueLength))
            }
        }
    }
}
