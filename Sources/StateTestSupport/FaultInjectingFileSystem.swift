import Checkpointing
import Foundation
import StateCore
import Synchronization

/// Another file system (the local one by default) that fails a seeded share of its operations, as RocksDB's
/// fault-injection file system does: EIO on reads, writes, fsyncs, renames, listings and removals; ENOSPC on
/// writes; short writes (a prefix lands, then EIO); a failed fsync after which the page cache cannot be trusted
/// (the file keeps only a prefix of what was written); a publish whose outcome is unknown (the file was published,
/// then an error came back); and latency spikes.
///
/// The same seed and rates give the same decisions for the same sequence of calls (the calls of a multi-threaded
/// job interleave differently from run to run, so a seed fixes the rates and the first decisions, not every one).
/// Faults apply only to paths under `scope` (nil: every path), and only while armed.
public final class FaultInjectingFileSystem: CheckpointFileSystem, Sendable {
    /// Probabilities (0...1) per operation kind.
    public struct Rates: Sendable, CustomStringConvertible {
        /// Whole and ranged reads, listings.
        public var read: Double
        /// Writes, appends, copies, links, directory creation: EIO, ENOSPC or a short write.
        public var write: Double
        /// Fsyncs of files and directories: EIO, and for files the unsynced part lost.
        public var sync: Double
        /// Renames and publishes (a publish may fail before or after it took effect).
        public var rename: Double
        /// Removals.
        public var remove: Double
        /// A latency spike before any operation.
        public var latency: Double
        /// The length of a latency spike.
        public var spike: Duration

        /// Every kind at `rate`, latency spikes (of 20 ms) at a tenth of it.
        public static func uniform(_ rate: Double) -> Rates {
            Rates(read: rate, write: rate, sync: rate, rename: rate, remove: rate, latency: rate / 10, spike: .milliseconds(20))
        }

        /// No faults.
        public static let none = Rates.uniform(0)

        /// Creates rates.
        public init(read: Double, write: Double, sync: Double, rename: Double, remove: Double, latency: Double, spike: Duration) {
            self.read = read
            self.write = write
            self.sync = sync
            self.rename = rename
            self.remove = remove
            self.latency = latency
            self.spike = spike
        }

        public var description: String {
            "read \(self.read), write \(self.write), sync \(self.sync), rename \(self.rename), remove \(self.remove), "
                + "latency \(self.latency) (\(self.spike))"
        }
    }

    /// One injected fault.
    public struct Injected: Sendable, CustomStringConvertible {
        /// The operation (`write`, `fsync`, `publish`, …).
        public var operation: String
        /// The path.
        public var path: String
        /// What was done (`EIO`, `ENOSPC`, `short write`, `lost unsynced data`, `published, then EIO`, `spike`).
        public var fault: String

        public var description: String { "\(self.operation) \(self.path): \(self.fault)" }
    }

    private struct State {
        var random: SeededGenerator
        var armed = true
        var injected: [Injected] = []
        var operations = 0
    }

    private let base: any CheckpointFileSystem
    private let rates: Rates
    private let scope: String?
    private let state: Mutex<State>

    /// Wraps `base` with faults drawn from `seed` at `rates`, on paths under `scope`.
    public init(base: any CheckpointFileSystem = LocalFileSystem(), seed: UInt64, rates: Rates, scope: String? = nil) {
        self.base = base
        self.rates = rates
        self.scope = scope
        self.state = Mutex(State(random: SeededGenerator(seed: seed)))
    }

    /// Turns faults on or off (a checker reads the result without them).
    public func setArmed(_ armed: Bool) { self.state.withLock { $0.armed = armed } }

    /// Every fault injected so far, in order.
    public var injected: [Injected] { self.state.withLock { $0.injected } }

    /// Operations seen so far (under `scope`, armed or not).
    public var operations: Int { self.state.withLock { $0.operations } }

    // MARK: Decisions

    /// Draws whether `operation` on `path` fails at `rate`, and which of `faults` it gets; sleeps through a latency
    /// spike first when one is drawn.
    private func draw(_ operation: String, _ path: String, rate: Double, _ faults: [String]) -> String? {
        guard self.scope.map({ path.hasPrefix($0) }) ?? true else { return nil }
        let (spike, fault) = self.state.withLock { state -> (Bool, String?) in
            state.operations += 1
            guard state.armed else { return (false, nil) }
            let spike = Double(state.random.next() % 1_000_000) / 1e6 < self.rates.latency
            guard Double(state.random.next() % 1_000_000) / 1e6 < rate, !faults.isEmpty else {
                if spike { state.injected.append(Injected(operation: operation, path: path, fault: "spike")) }
                return (spike, nil)
            }
            let fault = faults[Int(state.random.next() % UInt64(faults.count))]
            state.injected.append(Injected(operation: operation, path: path, fault: fault))
            return (spike, fault)
        }
        if spike { Thread.sleep(forTimeInterval: Double(self.rates.spike.components.attoseconds) / 1e18 + Double(self.rates.spike.components.seconds)) }
        return fault
    }

    private func error(_ operation: String, _ path: String, _ fault: String) -> CheckpointError {
        if fault == "ENOSPC" {
            return CheckpointError(
                code: .noSpace, message: "\(operation) \(path): No space left on device (injected)", path: path)
        }
        return CheckpointError(code: .io, message: "\(operation) \(path): Input/output error (injected: \(fault))", path: path)
    }

    /// Keeps only the first half of `path` (what a failed fsync may leave).
    private func loseUnsynced(_ path: String) {
        guard let size = self.base.size(path), let bytes = try? self.base.read(path, offset: 0, count: size / 2) else { return }
        try? self.base.write(bytes, to: path, sync: false)
    }

    // MARK: CheckpointFileSystem

    public func createDirectory(_ path: String) throws(CheckpointError) {
        if let fault = self.draw("create directory", path, rate: self.rates.write, ["EIO"]) {
            throw self.error("create directory", path, fault)
        }
        try self.base.createDirectory(path)
    }

    public func write(_ bytes: [UInt8], to path: String, sync: Bool) throws(CheckpointError) {
        let faults = sync ? ["EIO", "ENOSPC", "short write", "lost unsynced data"] : ["EIO", "ENOSPC", "short write"]
        switch self.draw("write", path, rate: self.rates.write, faults) {
        case nil:
            try self.base.write(bytes, to: path, sync: sync)
        case "short write"?:
            try? self.base.write(Array(bytes.prefix(bytes.count / 2)), to: path, sync: false)
            throw self.error("write", path, "short write")
        case "lost unsynced data"?:
            try? self.base.write(Array(bytes.prefix(bytes.count / 2)), to: path, sync: false)
            throw self.error("fsync", path, "lost unsynced data")
        case let fault?:
            throw self.error("write", path, fault)
        }
    }

    public func append(_ bytes: [UInt8], to path: String) throws(CheckpointError) {
        switch self.draw("append", path, rate: self.rates.write, ["EIO", "ENOSPC", "short write"]) {
        case nil:
            try self.base.append(bytes, to: path)
        case "short write"?:
            try? self.base.append(Array(bytes.prefix(bytes.count / 2)), to: path)
            throw self.error("append", path, "short write")
        case let fault?:
            throw self.error("append", path, fault)
        }
    }

    public func sync(_ path: String) throws(CheckpointError) {
        if let fault = self.draw("fsync", path, rate: self.rates.sync, ["lost unsynced data"]) {
            self.loseUnsynced(path)
            throw self.error("fsync", path, fault)
        }
        try self.base.sync(path)
    }

    public func copy(from source: String, to destination: String) throws(CheckpointError) -> (size: Int, crc32c: UInt32) {
        if let fault = self.draw("read", source, rate: self.rates.read, ["EIO"]) { throw self.error("read", source, fault) }
        switch self.draw("copy", destination, rate: self.rates.write, ["EIO", "ENOSPC", "short write"]) {
        case nil:
            return try self.base.copy(from: source, to: destination)
        case "short write"?:
            if let size = self.base.size(source), let bytes = try? self.base.read(source, offset: 0, count: size / 2) {
                try? self.base.write(bytes, to: destination, sync: false)
            }
            throw self.error("copy", destination, "short write")
        case let fault?:
            throw self.error("copy", destination, fault)
        }
    }

    public func read(_ path: String) throws(CheckpointError) -> [UInt8] {
        if let fault = self.draw("read", path, rate: self.rates.read, ["EIO"]) { throw self.error("read", path, fault) }
        return try self.base.read(path)
    }

    public func read(_ path: String, offset: Int, count: Int) throws(CheckpointError) -> [UInt8] {
        if let fault = self.draw("read", path, rate: self.rates.read, ["EIO"]) { throw self.error("read", path, fault) }
        return try self.base.read(path, offset: offset, count: count)
    }

    public func read(_ path: String, offset: Int, count: Int, into buffer: inout [UInt8]) throws(CheckpointError) {
        if let fault = self.draw("read", path, rate: self.rates.read, ["EIO"]) { throw self.error("read", path, fault) }
        try self.base.read(path, offset: offset, count: count, into: &buffer)
    }

    public func rename(_ source: String, to destination: String) throws(CheckpointError) {
        if let fault = self.draw("rename", destination, rate: self.rates.rename, ["EIO"]) {
            throw self.error("rename", destination, fault)
        }
        try self.base.rename(source, to: destination)
    }

    public func syncDirectory(_ path: String) throws(CheckpointError) {
        if let fault = self.draw("fsync directory", path, rate: self.rates.sync, ["EIO"]) {
            throw self.error("fsync directory", path, fault)
        }
        try self.base.syncDirectory(path)
    }

    public func remove(_ path: String) throws(CheckpointError) {
        if let fault = self.draw("remove", path, rate: self.rates.remove, ["EIO"]) { throw self.error("remove", path, fault) }
        try self.base.remove(path)
    }

    public func removeFiles(_ paths: [String]) throws(CheckpointError) {
        var failure: CheckpointError?
        for path in paths {
            do throws(CheckpointError) { try self.remove(path) } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
    }

    public func list(_ path: String) throws(CheckpointError) -> [String] {
        if let fault = self.draw("list", path, rate: self.rates.read, ["EIO"]) { throw self.error("list", path, fault) }
        return try self.base.list(path)
    }

    public func exists(_ path: String) -> Bool { self.base.exists(path) }
    public func missing(_ paths: [String]) -> [String] { self.base.missing(paths) }
    public func isDirectory(_ path: String) -> Bool { self.base.isDirectory(path) }
    public func size(_ path: String) -> Int? { self.base.size(path) }
    public func realPath(_ path: String) -> String? { self.base.realPath(path) }

    public func link(_ source: String, to destination: String) throws(CheckpointError) {
        if let fault = self.draw("link", destination, rate: self.rates.write, ["EIO", "ENOSPC"]) {
            throw self.error("link", destination, fault)
        }
        try self.base.link(source, to: destination)
    }

    /// Fails before the file is published, or after: the file is complete and in place, and an error comes back
    /// anyway (a rename that took effect before the directory fsync failed; an object created before the
    /// connection reset). The caller must treat both as "not published" without losing an older checkpoint.
    public func publish(_ bytes: [UInt8], to path: String) throws(CheckpointError) {
        switch self.draw("publish", path, rate: self.rates.rename, ["EIO", "published, then EIO"]) {
        case nil:
            try self.base.publish(bytes, to: path)
        case "published, then EIO"?:
            try self.base.publish(bytes, to: path)
            throw self.error("publish", path, "published, then EIO")
        case let fault?:
            throw self.error("publish", path, fault)
        }
    }

    public func prefetch(_ paths: [String]) throws(CheckpointError) {
        if let path = paths.first, let fault = self.draw("prefetch", path, rate: self.rates.read, ["EIO"]) {
            throw self.error("prefetch", path, fault)
        }
        try self.base.prefetch(paths)
    }
}
