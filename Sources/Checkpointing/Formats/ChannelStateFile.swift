import StateCore

/// A channel-state file: the in-flight buffers one task persisted for an unaligned checkpoint, per input channel,
/// in the order they are to be fed back on restore.
///
/// Layout (`docs/FORMATS.md`, integers big-endian): envelope (magic `WEIRCHST`, version, flags), vertex-name
/// length (`UInt16`) and name (UTF-8), subtask (`UInt32`), checkpoint id (`Int64`), buffer count (`UInt32`); then
/// each buffer: input channel (`UInt32`), length (`UInt32`), bytes; then CRC-32C of everything before it.
public struct ChannelStateFile: Sendable, Equatable {
    /// One persisted buffer.
    public struct Buffer: Sendable, Equatable {
        /// The input channel index the buffer arrived on (upstream subtask index for a single input).
        public var channel: Int
        /// The buffer's bytes (length-prefixed serialized records).
        public var bytes: [UInt8]

        /// Creates a buffer.
        public init(channel: Int, bytes: [UInt8]) {
            self.channel = channel
            self.bytes = bytes
        }
    }

    /// The vertex whose task wrote the file.
    public var vertex: String
    /// The task's subtask index.
    public var subtask: Int
    /// The checkpoint.
    public var checkpointID: Int64
    /// The buffers in arrival order.
    public var buffers: [Buffer]

    /// Creates the file's content.
    public init(vertex: String, subtask: Int, checkpointID: Int64, buffers: [Buffer]) {
        self.vertex = vertex
        self.subtask = subtask
        self.checkpointID = checkpointID
        self.buffers = buffers
    }

    /// Bytes of buffered data (without framing).
    public var dataBytes: Int { self.buffers.reduce(0) { $0 + $1.bytes.count } }

    /// The file's bytes.
    public func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: self.dataBytes + 8 * self.buffers.count + 64)
        FormatEnvelope.channelState.writeHeader(into: &writer)
        let name = Array(self.vertex.utf8)
        writer.writeInteger(UInt16(name.count))
        writer.writeBytes(name)
        writer.writeInteger(UInt32(self.subtask))
        writer.writeInteger(self.checkpointID)
        writer.writeInteger(UInt32(self.buffers.count))
        for buffer in self.buffers {
            writer.writeInteger(UInt32(buffer.channel))
            writer.writeInteger(UInt32(buffer.bytes.count))
            writer.writeBytes(buffer.bytes)
        }
        writer.writeInteger(CRC32C.checksum(writer.bytes))
        return writer.bytes
    }

    /// Decodes a channel-state file read from `path`.
    /// - Throws: `CheckpointError` `.corrupt` (bad magic, truncated, checksum mismatch) or `.unsupportedVersion`,
    ///   naming `path` and the offset.
    public static func decode(_ bytes: [UInt8], path: String) throws(CheckpointError) -> ChannelStateFile {
        guard bytes.count >= 16 else {
            throw CheckpointError(
                code: .corrupt, message: "\(path) is truncated: \(bytes.count) bytes, a channel-state file has at least 16",
                path: path, offset: bytes.count)
        }
        return try ByteReader.withReader(over: bytes) { reader throws(CheckpointError) -> ChannelStateFile in
            _ = try FormatEnvelope.channelState.readHeader(&reader, path: path)
            let stored = UInt32(bytes[bytes.count - 4]) << 24 | UInt32(bytes[bytes.count - 3]) << 16
                | UInt32(bytes[bytes.count - 2]) << 8 | UInt32(bytes[bytes.count - 1])
            let actual = CRC32C.checksum(bytes[0..<(bytes.count - 4)])
            guard stored == actual else {
                throw CheckpointError(
                    code: .corrupt,
                    message: "\(path): checksum mismatch (stored \(String(stored, radix: 16)), computed "
                        + "\(String(actual, radix: 16)) over bytes 0..<\(bytes.count - 4)); the file is damaged or "
                        + "truncated", path: path, offset: bytes.count - 4)
            }
            let nameLength = Int(try reader.readField(UInt16.self, path: path, what: "vertex-name length"))
            let name = String(decoding: try reader.readBytesField(count: nameLength, path: path, what: "vertex name"), as: UTF8.self)
            let subtask = Int(try reader.readField(UInt32.self, path: path, what: "subtask"))
            let checkpointID = try reader.readField(Int64.self, path: path, what: "checkpoint id")
            let count = Int(try reader.readField(UInt32.self, path: path, what: "buffer count"))
            var buffers: [Buffer] = []
            buffers.reserveCapacity(min(count, 1 << 16))
            for index in 0..<count {
                let channel = Int(try reader.readField(UInt32.self, path: path, what: "channel of buffer \(index)"))
                let length = Int(try reader.readField(UInt32.self, path: path, what: "length of buffer \(index)"))
                guard length <= reader.remaining - 4 else {
                    throw CheckpointError(
                        code: .corrupt,
                        message: "\(path): buffer \(index) at offset \(reader.offset) claims \(length) bytes, only "
                            + "\(reader.remaining - 4) remain", path: path, offset: reader.offset)
                }
                buffers.append(Buffer(channel: channel, bytes: try reader.readBytesField(count: length, path: path, what: "buffer \(index)")))
            }
            guard reader.remaining == 4 else {
                throw CheckpointError(
                    code: .corrupt, message: "\(path): \(reader.remaining - 4) unexpected bytes at offset \(reader.offset)",
                    path: path, offset: reader.offset)
            }
            return ChannelStateFile(vertex: name, subtask: subtask, checkpointID: checkpointID, buffers: buffers)
        }
    }
}
