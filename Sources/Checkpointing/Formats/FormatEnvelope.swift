import StateCore

/// The header every Weir file starts with: an 8-byte magic, a format version and flags (big-endian `UInt16`s,
/// like every integer in Weir's formats).
/// Readers accept versions up to `current` and reject newer ones with a message that says to upgrade.
struct FormatEnvelope: Sendable {
    /// The format's name in messages ("changelog segment").
    let name: String
    /// The 8 magic bytes.
    let magic: [UInt8]
    /// The version this build writes.
    let current: UInt16

    static let changelogSegment = FormatEnvelope(name: "changelog segment", magic: Array("WEIRCLOG".utf8), current: 1)
    static let stateSnapshot = FormatEnvelope(name: "state snapshot", magic: Array("WEIRSNAP".utf8), current: 1)
    static let channelState = FormatEnvelope(name: "channel state", magic: Array("WEIRCHST".utf8), current: 1)
    static let checkpointMetadata = FormatEnvelope(
        name: "checkpoint metadata", magic: Array("WEIRMETA".utf8), current: 1)

    /// Writes magic, version and zero flags (12 bytes).
    func writeHeader(into writer: inout ByteWriter) {
        writer.writeBytes(self.magic)
        writer.writeInteger(UInt16(self.current))
        writer.writeInteger(UInt16(0))
    }

    /// Reads and checks magic and version; returns the version.
    func readHeader(_ reader: inout ByteReader, path: String) throws(CheckpointError) -> UInt16 {
        guard reader.remaining >= 12 else {
            throw CheckpointError(
                code: .corrupt,
                message: "\(path) is not a \(self.name): \(reader.remaining) bytes, shorter than its 12-byte header",
                path: path, offset: 0)
        }
        let magic = (try? reader.readBytes(count: 8)) ?? []
        guard magic == self.magic else {
            throw CheckpointError(
                code: .corrupt,
                message: "\(path) is not a \(self.name): magic \(magic.hexString) at offset 0, expected "
                    + "\(self.magic.hexString) (\"\(String(decoding: self.magic, as: UTF8.self))\")",
                path: path, offset: 0)
        }
        let version = (try? reader.readInteger(as: UInt16.self)) ?? 0
        _ = try? reader.readInteger(as: UInt16.self)
        guard version >= 1 && version <= self.current else {
            throw CheckpointError(
                code: .unsupportedVersion,
                message: "\(path) is a \(self.name) of format version \(version); this build of Weir reads versions "
                    + "1...\(self.current). Restore with the Weir release that wrote it (or a newer one).",
                path: path, offset: 8)
        }
        return version
    }

}

extension ByteReader {
    /// Reads a big-endian fixed-width integer, reporting a cut-off field as corruption of `path`.
    mutating func readField<T: FixedWidthInteger>(
        _ type: T.Type, path: String, what: @autoclosure () -> String
    ) throws(CheckpointError)
        -> T
    {
        let offset = self.offset
        do {
            return try self.readInteger(as: T.self)
        } catch {
            throw CheckpointError(
                code: .corrupt, message: "\(path) is truncated: \(what()) at offset \(offset) is cut off",
                path: path, offset: offset)
        }
    }

    /// Reads a varint, reporting a bad one as corruption of `path`.
    mutating func readVarintField(path: String, what: @autoclosure () -> String) throws(CheckpointError) -> UInt64 {
        let offset = self.offset
        do {
            return try self.readVarint()
        } catch {
            throw CheckpointError(
                code: .corrupt, message: "\(path): \(what()) at offset \(offset) is cut off or invalid (\(error))",
                path: path, offset: offset)
        }
    }

    /// Skips `count` bytes, reporting a short read as corruption of `path`.
    mutating func skipField(count: Int, path: String, what: @autoclosure () -> String) throws(CheckpointError) {
        let offset = self.offset
        do { try self.skip(count) } catch { throw self.shortField(count: count, at: offset, path: path, what: what()) }
    }

    /// Reads `count` bytes, reporting a short read as corruption of `path`.
    mutating func readBytesField(count: Int, path: String, what: @autoclosure () -> String) throws(CheckpointError)
        -> [UInt8]
    {
        let offset = self.offset
        do { return try self.readBytes(count: count) } catch {
            throw self.shortField(count: count, at: offset, path: path, what: what())
        }
    }

    /// The error of a field of `count` bytes at `offset` that the bytes left cannot hold.
    private func shortField(count: Int, at offset: Int, path: String, what: String) -> CheckpointError {
        CheckpointError(
            code: .corrupt,
            message: "\(path): \(what) at offset \(offset) wants \(count) bytes, only \(self.remaining) remain",
            path: path, offset: offset)
    }
}
