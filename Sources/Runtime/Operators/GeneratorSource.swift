import KeyedState
import StateCore

/// One generated record: a key uniform in `[0, keys)`, the record's global sequence number, and a payload.
public struct GeneratedRecord: Sendable, Hashable, StreamSerializable {
    /// The key.
    public var key: Int64
    /// The record's number in the whole generated sequence (all subtasks).
    public var sequence: Int64
    /// The payload bytes.
    public var payload: [UInt8]

    /// Creates a record.
    public init(key: Int64, sequence: Int64, payload: [UInt8]) {
        self.key = key
        self.sequence = sequence
        self.payload = payload
    }

    /// `weir.generated-record@1`: key, sequence (big-endian `Int64`), payload (varint length + bytes).
    public static var streamSerializer: any StateSerializer<GeneratedRecord> { GeneratedRecordSerializer() }
}

/// The serializer of `GeneratedRecord`.
public struct GeneratedRecordSerializer: StateSerializer {
    /// Creates the serializer.
    public init() {}
    /// `weir.generated-record@1`.
    public var schema: SerializerSchema { SerializerSchema(name: "weir.generated-record", version: 1) }
    /// Writes key, sequence, payload.
    public func serialize(_ value: GeneratedRecord, into writer: inout ByteWriter) {
        writer.writeInteger(value.key)
        writer.writeInteger(value.sequence)
        writer.writeLengthPrefixed(value.payload)
    }
    /// Reads key, sequence, payload.
    public func deserialize(from reader: inout ByteReader) throws(SerializationError) -> GeneratedRecord {
        do {
            let key = try reader.readInteger(as: Int64.self)
            let sequence = try reader.readInteger(as: Int64.self)
            let length = try reader.readLength()
            return GeneratedRecord(key: key, sequence: sequence, payload: try reader.readBytes(count: length))
        } catch {
            throw SerializationError(schema: self.schema, error)
        }
    }
}

/// A deterministic source: record `i` of the whole sequence has a key drawn from `seed` and `i`, and a payload
/// that starts with `i` and continues with incompressible bytes, so every run — and every restore — produces the
/// same records. Subtask `s` of `p` emits `s, s + p, s + 2p, …`; its position
/// (the next index) is stored in checkpoints.
public final class GeneratorSource: SourceFunction {
    /// What to generate.
    public struct Configuration: Sendable, Hashable {
        /// Keys are uniform in `[0, keys)`.
        public var keys: Int64
        /// Payload size in bytes.
        public var payloadBytes: Int
        /// The seed.
        public var seed: UInt64
        /// Records in the whole sequence (nil: unbounded).
        public var count: Int64?
        /// Records per second over all subtasks (nil: as fast as possible).
        public var rate: Double?

        /// Creates a configuration.
        public init(keys: Int64 = 1_000_000, payloadBytes: Int = 100, seed: UInt64 = 42, count: Int64? = nil, rate: Double? = nil) {
            self.keys = keys
            self.payloadBytes = payloadBytes
            self.seed = seed
            self.count = count
            self.rate = rate
        }
    }

    private let configuration: Configuration
    private let subtask: Int64
    private let parallelism: Int64
    private var next: Int64 = 0
    private var emitted: Int64 = 0
    private var started: Duration?
    private var payload: [UInt8]

    /// Creates subtask `context.subtask`'s generator.
    public init(_ configuration: Configuration, context: SourceContext) {
        self.configuration = configuration
        self.subtask = Int64(context.subtask)
        self.parallelism = Int64(context.parallelism)
        self.payload = [UInt8](repeating: 0, count: configuration.payloadBytes)
    }

    /// 1 MiB of seeded random bytes: payloads are windows of it, so they do not compress (as real payloads
    /// mostly do not) and cost one copy each.
    private static let pool: [UInt8] = {
        var random = SeededGenerator(seed: 0x9A7_10AD)
        return (0..<(1 << 17)).flatMap { _ in withUnsafeBytes(of: random.next()) { Array($0) } }
    }()

    /// The key of record `index` of the sequence.
    public static func key(of index: Int64, configuration: Configuration) -> Int64 {
        var generator = SeededGenerator(seed: configuration.seed ^ (UInt64(bitPattern: index) &* 0x9E37_79B9_7F4A_7C15))
        return Int64(generator.next() % UInt64(configuration.keys))
    }

    /// Emits up to `limit` records, pacing to the rate.
    public func emit(limit: Int, into out: (GeneratedRecord) throws -> Void) throws -> SourceStatus {
        var allowed = limit
        if let rate = self.configuration.rate {
            let now = RuntimeClock.now
            if self.started == nil { self.started = now }
            let perSubtask = rate / Double(self.parallelism)
            let elapsed = Double((now - self.started!).milliseconds) / 1000
            let due = Int64(elapsed * perSubtask) + 1 - self.emitted
            if due <= 0 { return .idle(until: now + .milliseconds(1)) }
            allowed = min(allowed, Int(due))
        }
        for _ in 0..<allowed {
            let index = self.next * self.parallelism + self.subtask
            if let count = self.configuration.count, index >= count { return .finished }
            let key = Self.key(of: index, configuration: self.configuration)
            if !self.payload.isEmpty {
                let count = self.payload.count
                let start = Int(UInt64(bitPattern: index &* 0x9E37_79B9) % UInt64(Self.pool.count - count))
                Self.pool.withUnsafeBufferPointer { pool in
                    self.payload.withUnsafeMutableBufferPointer { payload in
                        payload.baseAddress!.update(from: pool.baseAddress! + start, count: count)
                    }
                }
                withUnsafeBytes(of: index.bigEndian) { raw in
                    for position in 0..<min(8, count) { self.payload[position] = raw[position] }
                }
            }
            // Counted before `out` (either order is right: checkpoints run only between `emit` calls).
            self.next += 1
            self.emitted += 1
            try out(GeneratedRecord(key: key, sequence: index, payload: self.payload))
        }
        return .more
    }

    /// `next`: the next local index.
    public func snapshotState() -> [String: String] { ["next": String(self.next)] }

    /// Resumes at the stored `next`.
    public func restore(_ state: [String: String]) throws {
        guard let text = state["next"] else { return }
        guard let value = Int64(text), value >= 0 else {
            throw RuntimeError(code: .checkpoint, message: "the generator position '\(text)' in the checkpoint is not a record number")
        }
        self.next = value
    }
}

extension StreamJob {
    /// Adds a generator source vertex `name` (default "generator").
    public func generator(
        _ configuration: GeneratorSource.Configuration, name: String = "generator", parallelism: Int? = nil
    ) -> DataStream<GeneratedRecord> {
        self.source(name: name, parallelism: parallelism) { GeneratorSource(configuration, context: $0) }
    }
}
