#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StateCore

/// The `_metadata` file of a checkpoint or savepoint: which checkpoint it is and every backend's handle. Its
/// presence (valid, under its final name) is what makes a checkpoint complete.
///
/// On disk (`docs/FORMATS.md`): envelope (magic `WEIRMETA`, version, flags), body length (`UInt32`), the body as
/// JSON, CRC-32C of everything before it.
public struct CheckpointMetadata: Sendable, Hashable, Codable {
    /// Whether this is a checkpoint (owned by Weir, subsumed) or a savepoint (owned by the user, self-contained).
    public enum Kind: String, Sendable, Codable {
        /// A checkpoint in a checkpoint root.
        case checkpoint
        /// A self-contained savepoint in its own directory.
        case savepoint
    }

    /// The checkpoint's number, increasing over the job's life.
    public var checkpointID: Int64
    /// Checkpoint or savepoint.
    public var kind: Kind
    /// When it was taken (milliseconds since 1970).
    public var timestampMilliseconds: Int64
    /// Every backend's state.
    public var backends: [BackendStateHandle]
    /// Opaque per-operator state the runtime stores with the checkpoint (source positions, channel state),
    /// by name.
    public var operatorState: [String: [UInt8]]
    /// Every runtime task's source positions, sink transactions and channel state (absent in checkpoints of a
    /// backend used without the runtime).
    public var tasks: [TaskStateHandle]?

    /// Creates metadata.
    public init(
        checkpointID: Int64, kind: Kind = .checkpoint, timestampMilliseconds: Int64,
        backends: [BackendStateHandle], operatorState: [String: [UInt8]] = [:], tasks: [TaskStateHandle]? = nil
    ) {
        self.checkpointID = checkpointID
        self.kind = kind
        self.timestampMilliseconds = timestampMilliseconds
        self.backends = backends
        self.operatorState = operatorState
        self.tasks = tasks
    }

    /// Every file the checkpoint references (relative paths).
    public var referencedPaths: Set<String> {
        var paths = self.backends.reduce(into: Set<String>()) { $0.formUnion($1.referencedPaths) }
        for task in self.tasks ?? [] {
            if let file = task.channelState { paths.insert(file.path) }
        }
        return paths
    }

    /// The task state of `vertex`'s subtask `subtask`, if the checkpoint has it.
    public func task(_ vertex: String, subtask: Int) -> TaskStateHandle? {
        self.tasks?.first { $0.vertex == vertex && $0.subtask == subtask }
    }

    /// The handle of `backendID`, if the checkpoint has one.
    public func backend(_ backendID: String) -> BackendStateHandle? {
        self.backends.first { $0.backendID == backendID }
    }

    /// The file's bytes.
    public func encoded() -> [UInt8] { self.encoded(cache: nil) }

    /// The file's bytes, with section lists encoded through `cache` (the same bytes, less work per checkpoint).
    func encoded(cache: SectionListCache?) -> [UInt8] {
        let body = MetadataJSON.body(of: self, cache: cache)
        var writer = ByteWriter(capacity: body.count + 24)
        FormatEnvelope.checkpointMetadata.writeHeader(into: &writer)
        writer.writeInteger(UInt32(body.count))
        writer.writeBytes(body)
        writer.writeInteger(CRC32C.checksum(writer.bytes))
        return writer.bytes
    }

    /// Decodes a `_metadata` file read from `path`.
    /// - Throws: `CheckpointError` `.corrupt` (bad magic, truncated, checksum mismatch, undecodable body) or
    ///   `.unsupportedVersion`, naming `path` and the offset.
    public static func decode(_ bytes: [UInt8], path: String) throws(CheckpointError) -> CheckpointMetadata {
        try ByteReader.withReader(over: bytes) { reader throws(CheckpointError) -> CheckpointMetadata in
            _ = try FormatEnvelope.checkpointMetadata.readHeader(&reader, path: path)
            let length = Int(try reader.readField(UInt32.self, path: path, what: "body length"))
            let body = try reader.readBytesField(count: length, path: path, what: "metadata body")
            let stored = try reader.readField(UInt32.self, path: path, what: "checksum")
            let actual = CRC32C.checksum(bytes[0..<(16 + length)])
            guard stored == actual else {
                throw CheckpointError(
                    code: .corrupt,
                    message: "\(path): checksum mismatch (stored \(String(stored, radix: 16)), computed "
                        + "\(String(actual, radix: 16)) over bytes 0..<\(16 + length)); the file is damaged",
                    path: path, offset: 16 + length)
            }
            do {
                return try JSONDecoder().decode(CheckpointMetadata.self, from: Data(body))
            } catch {
                throw CheckpointError(
                    code: .corrupt, message: "\(path): the metadata body does not decode (\(error))", path: path,
                    offset: 16)
            }
        }
    }
}
