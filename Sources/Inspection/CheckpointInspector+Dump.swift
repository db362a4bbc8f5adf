import Checkpointing
import KeyedState
import StateCore

/// One state entry as `weir dump` prints it: every part rendered as JSON text.
public struct DumpEntry: Sendable {
    /// The backend holding it.
    public var backendID: String
    /// The state's name.
    public var state: String
    /// The key group.
    public var keyGroup: Int
    /// The key.
    public var key: String
    /// The namespace (`null` for none).
    public var namespace: String
    /// The map key (map state only).
    public var userKey: String?
    /// The value (a list state's elements as an array).
    public var value: String
    /// The TTL timestamp (milliseconds since 1970) of states with TTL.
    public var timestampMilliseconds: Int64?

    /// The entry as one JSON object, keys sorted (the shape `docs/CLI.md` documents for `weir dump --json`).
    public var jsonLine: String {
        var line = ""
        line.reserveCapacity(64 + self.backendID.utf8.count + self.key.utf8.count + self.value.utf8.count + self.namespace.utf8.count)
        line += "{\"backend\":"
        line += SchemaRenderer.quote(self.backendID)
        line += ",\"key\":"
        line += self.key
        line += ",\"key_group\":"
        line += String(self.keyGroup)
        line += ",\"namespace\":"
        line += self.namespace
        if let userKey = self.userKey {
            line += ",\"map_key\":"
            line += userKey
        }
        line += ",\"state\":"
        line += SchemaRenderer.quote(self.state)
        if let timestamp = self.timestampMilliseconds {
            line += ",\"timestamp_ms\":"
            line += String(timestamp)
        }
        line += ",\"value\":"
        line += self.value
        line += "}"
        return line
    }
}

/// Where a dump reads from and what it keeps.
public struct DumpRequest: Sendable {
    /// The state's name.
    public var state: String
    /// Only this backend (`nil`: every backend that has the state).
    public var backendID: String?
    /// Only the backends of this operator (`<operator>/<subtask>`), every subtask.
    public var operatorName: String?
    /// Only this key group.
    public var keyGroup: Int?
    /// Only entries whose rendered key equals this text (`42`, `"alice"`).
    public var key: String?
    /// Only entries whose rendered namespace equals this text.
    public var namespace: String?
    /// The state as it was before this SQN (within the checkpoint's changelog).
    public var atSQN: UInt64?
    /// A scratch directory for the restored copy (removed afterwards).
    public var scratchDirectory: String

    /// Creates a request.
    public init(
        state: String, backendID: String? = nil, keyGroup: Int? = nil, key: String? = nil, namespace: String? = nil,
        atSQN: UInt64? = nil, scratchDirectory: String, operatorName: String? = nil
    ) {
        self.operatorName = operatorName
        self.state = state
        self.backendID = backendID
        self.keyGroup = keyGroup
        self.key = key
        self.namespace = namespace
        self.atSQN = atSQN
        self.scratchDirectory = scratchDirectory
    }
}

/// A key serializer that only carries a schema: restoring for reading never serializes keys.
struct SchemaOnlySerializer: StateSerializer {
    let schema: SerializerSchema
    func serialize(_ value: [UInt8], into writer: inout ByteWriter) { writer.writeBytes(value) }
    func deserialize(from reader: inout ByteReader) throws(SerializationError) -> [UInt8] { reader.readRemainingBytes() }
}

extension CheckpointInspector {
    /// The names of the states in `metadata`'s backends (only `backendID`'s, or `operatorName`'s, when given),
    /// each once, in the order the backends list them: what `weir dump` without `--state` prints.
    public static func stateNames(
        _ metadata: CheckpointMetadata, backendID: String? = nil, operatorName: String? = nil
    ) -> [String] {
        var names: [String] = []
        for backend in metadata.backends
        where (backendID == nil || backend.backendID == backendID)
            && (operatorName == nil || backend.backendID.hasPrefix(operatorName! + "/"))
        {
            for state in backend.states where !names.contains(state.name) { names.append(state.name) }
        }
        return names
    }

    /// Streams the entries of one state of a checkpoint: the materialized state plus the changelog replayed (up to
    /// `atSQN`), restored into a scratch copy; stops when `body` returns false. The copy is made by
    /// `CheckpointedBackend.restoreForReading`, the same fetch/open/replay code a job's restore runs (with the
    /// replay cut at the SQN), and entries are rendered by serializer schema name (`SchemaRenderer`).
    /// - Throws: `CheckpointError`: `.invalidArgument` for an unknown state or backend (naming the ones there are),
    ///   `.corrupt` for undecodable entries, and every restore error.
    public func dump(
        _ metadata: CheckpointMetadata, _ request: DumpRequest, _ body: (DumpEntry) throws(CheckpointError) -> Bool
    ) throws(CheckpointError) {
        let backends = metadata.backends.filter { backend in
            (request.backendID == nil || backend.backendID == request.backendID)
                && (request.operatorName == nil || backend.backendID.hasPrefix(request.operatorName! + "/"))
                && backend.states.contains { $0.name == request.state }
        }
        guard !backends.isEmpty else {
            let known = Set(metadata.backends.flatMap { $0.states.map(\.name) }).sorted()
            throw CheckpointError(
                code: .invalidArgument,
                message: "checkpoint \(metadata.checkpointID) has no state '\(request.state)'"
                    + (request.backendID.map { " in backend '\($0)'" } ?? "")
                    + (request.operatorName.map { " in operator '\($0)'" } ?? "") + "; its states: "
                    + known.joined(separator: ", "), checkpointID: metadata.checkpointID)
        }
        for backend in backends {
            let column = backend.states.firstIndex { $0.name == request.state }!
            let state = backend.states[column]
            let scratch = "\(request.scratchDirectory)/dump-\(metadata.checkpointID)"
            try self.fileSystem.remove(scratch)
            defer { try? self.fileSystem.remove(scratch) }
            let (restored, _) = try CheckpointedBackend<[UInt8]>.restoreForReading(
                backend, checkpointID: metadata.checkpointID, root: self.root, fileSystem: self.fileSystem,
                workingDirectory: scratch, keySerializer: SchemaOnlySerializer(schema: backend.keySchema),
                upTo: request.atSQN)
            defer { try? restored.close() }
            let renderers = (
                key: SchemaRenderer(backend.keySchema), namespace: SchemaRenderer(state.namespaceSchema),
                userKey: state.userKeySchema.map(SchemaRenderer.init), value: SchemaRenderer(state.valueSchema))
            var failure: CheckpointError?
            do throws(StateError) {
                try restored.forEachRawEntry(column: column) { key, value throws(StateError) -> Bool in
                    do throws(CheckpointError) {
                        guard let entry = try Self.entry(backend, state, key, value, renderers) else { return true }
                        if let group = request.keyGroup, entry.keyGroup != group { return true }
                        if let wanted = request.key, entry.key != wanted { return true }
                        if let wanted = request.namespace, entry.namespace != wanted { return true }
                        return try body(entry)
                    } catch {
                        failure = error
                        return false
                    }
                }
            } catch {
                throw CheckpointError.state(error, "reading '\(request.state)' of '\(backend.backendID)'")
            }
            if let failure { throw failure.inCheckpoint(metadata.checkpointID) }
        }
    }

    private static func entry(
        _ backend: BackendStateHandle, _ state: StateMetadata, _ key: ByteReader, _ value: ByteReader,
        _ renderers: (key: SchemaRenderer, namespace: SchemaRenderer, userKey: SchemaRenderer?, value: SchemaRenderer)
    ) throws(CheckpointError) -> DumpEntry? {
        var key = key
        var value = value
        do throws(SerializationError) {
            guard key.remaining >= 2 else { return nil }
            let high = (try? key.readUInt8()) ?? 0
            let low = (try? key.readUInt8()) ?? 0
            let keyText = try renderers.key.render(&key)
            let namespaceText = renderers.key.isDelimited ? try renderers.namespace.render(&key) : "null"
            var userKeyText: String?
            if let userKey = renderers.userKey { userKeyText = try userKey.render(&key) }
            var timestamp: Int64?
            let valueText: String
            if state.kind == .list {
                var items: [String] = []
                while !value.isAtEnd {
                    let length: Int
                    do { length = try value.readLength() } catch { throw SerializationError(schema: state.valueSchema, error) }
                    var frame: ByteReader
                    do { frame = try value.readSlice(count: length) } catch {
                        throw SerializationError(schema: state.valueSchema, error)
                    }
                    if state.ttl != nil {
                        do { timestamp = try frame.readInteger(as: Int64.self) } catch {
                            throw SerializationError(schema: state.valueSchema, error)
                        }
                    }
                    items.append(try renderers.value.render(&frame))
                }
                valueText = "[" + items.joined(separator: ",") + "]"
            } else {
                if state.ttl != nil {
                    do { timestamp = try value.readInteger(as: Int64.self) } catch {
                        throw SerializationError(schema: state.valueSchema, error)
                    }
                }
                valueText = try renderers.value.render(&value)
            }
            return DumpEntry(
                backendID: backend.backendID, state: state.name, keyGroup: Int(high) << 8 | Int(low), key: keyText,
                namespace: namespaceText, userKey: userKeyText, value: valueText, timestampMilliseconds: timestamp)
        } catch {
            throw CheckpointError(
                code: .corrupt,
                message: "an entry of state '\(state.name)' of '\(backend.backendID)' does not decode with its recorded "
                    + "serializers: \(error)")
        }
    }
}
