#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KeyedState
import RocksKit
import StateCore

/// A state snapshot file: every entry of a backend written out in the canonical layout, readable into either
/// engine and any strategy. Savepoints, full checkpoints and heap materializations use it.
///
/// Layout (`docs/FORMATS.md`, big-endian): envelope (magic `WEIRSNAP`, version, flags), header length (`UInt32`),
/// header CRC-32C, header (JSON `StateSnapshotFile.Header`); then blocks of entries, each `entry count (UInt32) ‖
/// payload length (UInt32) ‖ payload CRC-32C ‖ payload`, where an entry is `column ‖ primary length + 1 (0:
/// unknown) ‖ key length ‖ key ‖ value length ‖ value` (varints); then an end block with count 0 whose payload is
/// the total entry count (`UInt64`).
package enum StateSnapshotFile {
    /// What the snapshot holds, written before the entries.
    package struct Header: Sendable, Codable, Equatable {
        package var backendID: String
        package var engine: String
        package var keyGroups: KeyGroupRange
        package var maxParallelism: Int
        package var keySchema: SerializerSchema
        package var states: [StateMetadata]
        package var sqn: UInt64

        package init(
            backendID: String, engine: String, keyGroups: KeyGroupRange, maxParallelism: Int, keySchema: SerializerSchema,
            states: [StateMetadata], sqn: UInt64
        ) {
            self.backendID = backendID
            self.engine = engine
            self.keyGroups = keyGroups
            self.maxParallelism = maxParallelism
            self.keySchema = keySchema
            self.states = states
            self.sqn = sqn
        }
    }

    static let blockBytes = 256 << 10

    /// Streams entries into a new file, a block at a time.
    struct Writer {
        let fileSystem: any CheckpointFileSystem
        let path: String
        private var block = ByteWriter(capacity: StateSnapshotFile.blockBytes + 4_096)
        private var blockEntries = 0
        private var total: UInt64 = 0
        private var size = 0
        private var crc: UInt32 = 0

        init(fileSystem: any CheckpointFileSystem, path: String, header: Header) throws(CheckpointError) {
            self.fileSystem = fileSystem
            self.path = path
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let json = (try? encoder.encode(header)).map { [UInt8]($0) } ?? []
            var writer = ByteWriter(capacity: json.count + 32)
            FormatEnvelope.stateSnapshot.writeHeader(into: &writer)
            writer.writeInteger(UInt32(json.count))
            writer.writeInteger(CRC32C.checksum(json))
            writer.writeBytes(json)
            try fileSystem.write(writer.bytes, to: path, sync: false)
            self.crc = writer.bytes.withUnsafeBytes { HardwareCRC32C.extend(self.crc, $0) }
            self.size = writer.count
        }

        /// Adds one entry.
        mutating func add(column: Int, key: ByteReader, primaryLength: Int?, value: ByteReader) throws(CheckpointError) {
            var key = key
            var value = value
            self.block.writeVarint(UInt64(column))
            self.block.writeVarint(primaryLength.map { UInt64($0) + 1 } ?? 0)
            self.block.writeVarint(UInt64(key.remaining))
            self.block.writeBytes(key.readRemainingBytes())
            self.block.writeVarint(UInt64(value.remaining))
            self.block.writeBytes(value.readRemainingBytes())
            self.blockEntries += 1
            self.total += 1
            if self.block.count >= StateSnapshotFile.blockBytes { try self.flushBlock() }
        }

        private mutating func flushBlock() throws(CheckpointError) {
            guard self.blockEntries > 0 else { return }
            try self.emit(count: UInt32(self.blockEntries), payload: self.block.bytes)
            self.block.removeAll()
            self.blockEntries = 0
        }

        private mutating func emit(count: UInt32, payload: [UInt8]) throws(CheckpointError) {
            var framed = ByteWriter(capacity: payload.count + 12)
            framed.writeInteger(count)
            framed.writeInteger(UInt32(payload.count))
            framed.writeInteger(HardwareCRC32C.checksum(payload))
            framed.writeBytes(payload)
            try self.fileSystem.append(framed.bytes, to: self.path)
            self.crc = framed.bytes.withUnsafeBytes { HardwareCRC32C.extend(self.crc, $0) }
            self.size += framed.count
        }

        /// Writes the end block, fsyncs, and returns the file's size, checksum and entry count.
        mutating func finish() throws(CheckpointError) -> (size: Int, crc32c: UInt32, entries: UInt64) {
            try self.flushBlock()
            var end = ByteWriter(capacity: 8)
            end.writeInteger(self.total)
            try self.emit(count: 0, payload: end.bytes)
            try self.fileSystem.sync(self.path)
            return (self.size, self.crc, self.total)
        }
    }

    /// Reads a snapshot file's header and every entry from memory.
    /// - Throws: `CheckpointError` `.corrupt` / `.unsupportedVersion` naming the path and offset.
    package static func read(
        _ bytes: [UInt8], path: String,
        _ body: (Header) throws(CheckpointError) -> Void,
        entry: (_ column: Int, _ key: [UInt8], _ primaryLength: Int?, _ value: [UInt8]) throws(CheckpointError) -> Void
    ) throws(CheckpointError) {
        var offset = 0
        try Self.read(
            path: path,
            next: { count, what throws(CheckpointError) in
                guard count <= bytes.count - offset else { throw Self.truncated(path, what, offset, count, bytes.count - offset) }
                defer { offset += count }
                return Array(bytes[offset..<(offset + count)])
            }, remaining: { bytes.count - offset }, body, entry: entry)
    }

    /// Reads a snapshot file's header and every entry block by block from `path` (memory stays at one block, for
    /// any file size), checking the whole file's size and CRC-32C against `size` and `crc32c` as it goes.
    /// - Throws: `CheckpointError` `.corrupt` / `.unsupportedVersion` naming the path and offset; `.corrupt` when
    ///   the file's size or checksum differs from the checkpoint's record of it.
    package static func read(
        fileSystem: any CheckpointFileSystem, path: String, size: Int, crc32c: UInt32,
        _ body: (Header) throws(CheckpointError) -> Void,
        entry: (_ column: Int, _ key: [UInt8], _ primaryLength: Int?, _ value: [UInt8]) throws(CheckpointError) -> Void
    ) throws(CheckpointError) {
        let actualSize = fileSystem.size(path) ?? -1
        guard actualSize == size else {
            throw CheckpointError(
                code: .corrupt,
                message: "\(path) does not match the checkpoint: \(actualSize) bytes, expected \(size); the file is damaged",
                path: path)
        }
        var offset = 0
        var crc: UInt32 = 0
        try Self.read(
            path: path,
            next: { count, what throws(CheckpointError) in
                guard count <= size - offset else { throw Self.truncated(path, what, offset, count, size - offset) }
                let bytes = try fileSystem.read(path, offset: offset, count: count)
                guard bytes.count == count else { throw Self.truncated(path, what, offset, count, bytes.count) }
                crc = bytes.withUnsafeBytes { HardwareCRC32C.extend(crc, $0) }
                offset += count
                return bytes
            }, remaining: { size - offset }, body, entry: entry)
        guard crc == crc32c else {
            throw CheckpointError(
                code: .corrupt,
                message: "\(path) does not match the checkpoint: CRC-32C \(String(crc, radix: 16)), expected "
                    + "\(String(crc32c, radix: 16)); the file is damaged", path: path)
        }
    }

    private static func truncated(_ path: String, _ what: String, _ offset: Int, _ count: Int, _ remaining: Int) -> CheckpointError {
        CheckpointError(
            code: .corrupt,
            message: "\(path) is truncated: \(what) at offset \(offset) wants \(count) bytes, only \(max(remaining, 0)) remain",
            path: path, offset: offset)
    }

    /// The reader: `next(count, what)` returns the next `count` bytes of the file (or throws), `remaining` says how
    /// many are left.
    private static func read(
        path: String,
        next: (Int, String) throws(CheckpointError) -> [UInt8],
        remaining: () -> Int,
        _ body: (Header) throws(CheckpointError) -> Void,
        entry: (_ column: Int, _ key: [UInt8], _ primaryLength: Int?, _ value: [UInt8]) throws(CheckpointError) -> Void
    ) throws(CheckpointError) {
        // A file shorter than the fixed 20 bytes is read whole, so the envelope can say what it is (or is not).
        let prefix = try next(min(20, remaining()), "the header")
        let (length, headerCRC) = try ByteReader.withReader(over: prefix) { reader throws(CheckpointError) in
            _ = try FormatEnvelope.stateSnapshot.readHeader(&reader, path: path)
            let length = Int(try reader.readField(UInt32.self, path: path, what: "header length"))
            return (length, try reader.readField(UInt32.self, path: path, what: "header checksum"))
        }
        let json = try next(length, "header")
        guard CRC32C.checksum(json) == headerCRC else {
            throw CheckpointError(
                code: .corrupt, message: "\(path): the snapshot header at offset 20 fails its checksum",
                path: path, offset: 20)
        }
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(json)) } catch {
            throw CheckpointError(
                code: .corrupt, message: "\(path): the snapshot header does not decode (\(error))", path: path,
                offset: 20)
        }
        try body(header)
        var seen: UInt64 = 0
        var blockOffset = 20 + length
        while true {
            let head = try next(12, "block header")
            let (count, payloadLength, crc) = try ByteReader.withReader(over: head) { reader throws(CheckpointError) in
                (try reader.readField(UInt32.self, path: path, what: "block entry count"),
                 Int(try reader.readField(UInt32.self, path: path, what: "block length")),
                 try reader.readField(UInt32.self, path: path, what: "block checksum"))
            }
            let payload = try next(payloadLength, "block")
            guard HardwareCRC32C.checksum(payload) == crc else {
                throw CheckpointError(
                    code: .corrupt,
                    message: "\(path): the block at offset \(blockOffset) fails its checksum (after \(seen) good "
                        + "entries); the snapshot is damaged", path: path, offset: blockOffset)
            }
            if count == 0 {
                let total = payload.count == 8 ? payload.reduce(UInt64(0)) { $0 << 8 | UInt64($1) } : nil
                guard total == seen, remaining() == 0 else {
                    throw CheckpointError(
                        code: .corrupt,
                        message: "\(path): the end block at offset \(blockOffset) counts \(total.map(String.init) ?? "?") "
                            + "entries, the file holds \(seen)\(remaining() == 0 ? "" : " and bytes follow it")",
                        path: path, offset: blockOffset)
                }
                return
            }
            try ByteReader.withReader(over: payload) { block throws(CheckpointError) in
                for _ in 0..<count {
                    let at = blockOffset + 12 + block.offset
                    func number() throws(CheckpointError) -> Int {
                        do { return Int(try block.readVarint()) } catch {
                            throw CheckpointError(
                                code: .corrupt, message: "\(path): entry at offset \(at) is invalid", path: path,
                                offset: at)
                        }
                    }
                    let column = try number()
                    let primary = try number()
                    let key = try block.readBytesField(count: try number(), path: path, what: "entry key")
                    let value = try block.readBytesField(count: try number(), path: path, what: "entry value")
                    guard column < header.states.count else {
                        throw CheckpointError(
                            code: .corrupt,
                            message: "\(path): entry at offset \(at) names column \(column); the header lists "
                                + "\(header.states.count) states", path: path, offset: at)
                    }
                    try entry(column, key, primary == 0 ? nil : primary - 1, value)
                    seen += 1
                }
            }
            blockOffset += 12 + payloadLength
        }
    }
}
