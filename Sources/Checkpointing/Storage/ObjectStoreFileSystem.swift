#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation
import ObjectStore
import RocksKit
import StateCore
import Synchronization

/// Checkpoint files on S3-compatible object storage: paths `s3://bucket/key…` go to the server, every other
/// path to the local file system (a backend's working directory stays local).
///
/// Objects are written whole and never renamed: `write(…, sync: true)` is one PUT, large copies are multipart
/// uploads (several parts in flight), and `publish` is a conditional create (`If-None-Match: *`) that fails with
/// `.duplicate` when the object exists, so two writers can never both publish one checkpoint. A file built with
/// `append` is staged locally and uploaded by `sync`. Directories are key prefixes: creating and syncing one does
/// nothing, listing one lists with the `/` delimiter, removing one deletes every key under it in batches.
///
/// Reads go through an `ObjectCache`: a file is downloaded once (a large one in ranges, in parallel) and read
/// locally after that; `_metadata` objects are always read from the server. Every request has a timeout and is
/// retried (`S3Configuration`); failures throw `CheckpointError` `.unavailable` (server unreachable, credentials
/// refused, no such bucket), `.missing` (no such object) or `.duplicate`, with the server's answer as `cause`.
public final class ObjectStoreFileSystem: CheckpointFileSystem {
    /// The client requests go through.
    public let client: S3Client
    /// Local copies of objects.
    public let cache: ObjectCache
    /// Objects from this size up are uploaded in parts. Default 16 MiB.
    public let multipartThreshold: Int
    /// The part size of multipart uploads and ranged downloads. Default 8 MiB (S3's minimum is 5 MiB).
    public let partSize: Int
    /// Requests in flight for one file's parts, and files fetched at once by `prefetch`.
    public let concurrency: Int

    private let local = LocalFileSystem()
    private let stagingDirectory: String
    /// Files being built with `append`, by path, until `sync` uploads them.
    private let staged = Mutex<[String: String]>([:])

    /// Creates a file system on `configuration`'s server with `cache` for local copies.
    /// - Throws: `.io` when the staging directory in the cache cannot be created.
    public init(
        configuration: S3Configuration, cache: ObjectCache, multipartThreshold: Int = 16 << 20, partSize: Int = 8 << 20,
        concurrency: Int = 4
    ) throws(CheckpointError) {
        self.client = S3Client(configuration)
        self.cache = cache
        self.multipartThreshold = max(multipartThreshold, 5 << 20)
        self.partSize = max(partSize, 5 << 20)
        self.concurrency = max(concurrency, 1)
        // Staging is per process; a dead process's is removed.
        for name in try self.local.list(cache.directory) where name.hasPrefix(".staging-") {
            if let pid = Int32(name.dropFirst(9)), kill(pid, 0) != 0 && errno == ESRCH {
                try? self.local.remove("\(cache.directory)/\(name)")
            }
        }
        self.stagingDirectory = "\(cache.directory)/.staging-\(getpid())"
        try self.local.createDirectory(self.stagingDirectory)
    }

    private static let shared = Mutex<[S3Configuration: ObjectStoreFileSystem]>([:])

    /// The file system for a checkpoint root: the local one for a path, and for `s3://…` the process's object
    /// store for the environment's configuration (`S3Configuration.fromEnvironment`), with its cache in
    /// `WEIR_CACHE_DIRECTORY` (default `$TMPDIR/weir-object-cache`) bounded by `WEIR_CACHE_BYTES` (default 2 GiB).
    /// - Throws: `.invalidArgument` naming what the configuration lacks.
    public static func forPath(_ path: String, environment: [String: String]? = nil) throws(CheckpointError)
        -> any CheckpointFileSystem
    {
        guard S3Location.isObjectStoreURL(path) else { return LocalFileSystem() }
        let env = environment ?? Self.processEnvironment()
        let configuration: S3Configuration
        do throws(ObjectStoreError) {
            configuration = try S3Configuration.fromEnvironment(env)
        } catch {
            throw CheckpointError(code: .invalidArgument, message: "checkpoint root \(path): \(error.message)", cause: error)
        }
        let directory = env["WEIR_CACHE_DIRECTORY"] ?? "\(env["TMPDIR"] ?? "/tmp")/weir-object-cache"
        let capacity = env["WEIR_CACHE_BYTES"].flatMap { Int($0) } ?? (2 << 30)
        return try Self.shared.withLock { shared throws(CheckpointError) -> ObjectStoreFileSystem in
            if let existing = shared[configuration] { return existing }
            let created = try ObjectStoreFileSystem(
                configuration: configuration, cache: try ObjectCache(directory: directory, capacity: capacity))
            shared[configuration] = created
            return created
        }
    }

    private static func processEnvironment() -> [String: String] { ProcessInfo.processInfo.environment }

    // MARK: Paths

    /// The bucket and key of an `s3://` path, or `nil` for a local path.
    private func object(_ path: String) throws(CheckpointError) -> (bucket: String, key: String)? {
        guard S3Location.isObjectStoreURL(path) else { return nil }
        do throws(ObjectStoreError) {
            let location = try S3Location(url: path)
            return (location.bucket, location.prefix)
        } catch {
            throw CheckpointError(code: .invalidArgument, message: error.message, path: path, cause: error)
        }
    }

    private static func failure(_ error: ObjectStoreError, _ path: String) -> CheckpointError {
        let code: CheckpointError.Code =
            switch error.code {
            case .notFound: .missing
            case .alreadyExists: .duplicate
            default: .unavailable
            }
        return CheckpointError(code: code, message: error.message, path: path, cause: error)
    }

    private func call<T>(_ path: String, _ body: () throws(ObjectStoreError) -> T) throws(CheckpointError) -> T {
        do throws(ObjectStoreError) { return try body() } catch { throw Self.failure(error, path) }
    }

    private func stagedFile(_ path: String) -> String? { self.staged.withLock { $0[path] } }

    // MARK: CheckpointFileSystem

    public func createDirectory(_ path: String) throws(CheckpointError) {
        if try self.object(path) == nil { try self.local.createDirectory(path) }
    }

    public func write(_ bytes: [UInt8], to path: String, sync: Bool) throws(CheckpointError) {
        guard let (bucket, key) = try self.object(path) else { return try self.local.write(bytes, to: path, sync: sync) }
        guard sync else {
            try self.local.write(bytes, to: self.stage(path), sync: false)
            return
        }
        self.dropStaged(path)
        let etag = try self.call(path) { () throws(ObjectStoreError) in
            try self.client.put(bucket: bucket, key: key, bytes: bytes)
        }
        // Changelog uploads are read back at restore: keep a copy.
        if bytes.count <= self.partSize { self.cache.store(bytes, url: path, etag: etag) }
    }

    public func append(_ bytes: [UInt8], to path: String) throws(CheckpointError) {
        guard try self.object(path) != nil else { return try self.local.append(bytes, to: path) }
        try self.local.append(bytes, to: self.stagedFile(path) ?? self.stage(path))
    }

    /// A new staging file for `path`, replacing an earlier one.
    private func stage(_ path: String) -> String {
        let file = "\(self.stagingDirectory)/\(ObjectCache.escape(path))"
        let old = self.staged.withLock { $0.updateValue(file, forKey: path) }
        if let old, old != file { try? self.local.remove(old) }
        return file
    }

    private func dropStaged(_ path: String) {
        if let file = self.staged.withLock({ $0.removeValue(forKey: path) }) { try? self.local.remove(file) }
    }

    public func sync(_ path: String) throws(CheckpointError) {
        guard try self.object(path) != nil else { return try self.local.sync(path) }
        guard let file = self.stagedFile(path) else { return }    // written whole: durable already
        let (size, etag, _) = try self.upload(localFile: file, to: path)
        self.staged.withLock { _ = $0.removeValue(forKey: path) }
        do throws(CheckpointError) {
            try self.cache.commit(path, etag: etag, size: size, from: file)
        } catch {
            try? self.local.remove(file)
        }
    }

    /// Uploads a local file to `path` (one PUT, or a multipart upload from `multipartThreshold`); returns its
    /// size, entity tag and CRC-32C.
    private func upload(localFile: String, to path: String) throws(CheckpointError) -> (Int, String, UInt32) {
        guard let (bucket, key) = try self.object(path) else {
            throw CheckpointError(code: .invalidArgument, message: "\(path) is not an s3:// path", path: path)
        }
        guard let size = self.local.size(localFile) else {
            throw LocalFileSystem.failure("upload", localFile, errno: ENOENT)
        }
        if size < self.multipartThreshold {
            let bytes = try self.local.read(localFile, offset: 0, count: size)
            let etag = try self.call(path) { () throws(ObjectStoreError) in
                try self.client.put(bucket: bucket, key: key, bytes: bytes)
            }
            return (size, etag, bytes.withUnsafeBytes { HardwareCRC32C.extend(0, $0) })
        }
        var crc: UInt32 = 0
        var buffer: [UInt8] = []
        var offset = 0
        while offset < size {
            try self.local.read(localFile, offset: offset, count: min(1 << 20, size - offset), into: &buffer)
            crc = buffer.withUnsafeBytes { HardwareCRC32C.extend(crc, $0) }
            offset += buffer.count
        }
        let local = self.local
        let etag = try self.call(path) { () throws(ObjectStoreError) in
            try self.client.putMultipart(
                bucket: bucket, key: key, size: size, partSize: self.partSize, concurrency: self.concurrency
            ) { offset, count in try local.read(localFile, offset: offset, count: count) }
        }
        return (size, etag, crc)
    }

    public func copy(from source: String, to destination: String) throws(CheckpointError) -> (size: Int, crc32c: UInt32) {
        let sourceIsObject = try self.object(source) != nil
        let destinationIsObject = try self.object(destination) != nil
        let from = sourceIsObject ? try self.fetch(source) : source
        guard destinationIsObject else { return try self.local.copy(from: from, to: destination) }
        self.dropStaged(destination)
        let (size, _, crc) = try self.upload(localFile: from, to: destination)
        return (size, crc)
    }

    /// The local copy of the object at `path`, downloaded into the cache when it is not there.
    private func fetch(_ path: String) throws(CheckpointError) -> String {
        if let file = self.stagedFile(path) { return file }
        if let cached = self.cache.lookup(path) { return cached }
        guard let (bucket, key) = try self.object(path) else { return path }
        let temporary = self.cache.temporaryPath()
        do throws(CheckpointError) {
            let first = try self.call(path) { () throws(ObjectStoreError) in
                try self.client.getRange(bucket: bucket, key: key, offset: 0, count: self.partSize)
            }
            try self.local.write(first.bytes, to: temporary, sync: false)
            let size = first.objectSize
            // The rest in parts, `concurrency` in flight, each written at its offset as it arrives.
            let starts = Array(stride(from: first.bytes.count, to: size, by: self.partSize))
            _ = try ParallelCalls.map(starts, width: self.concurrency) { start throws(CheckpointError) in
                let count = min(self.partSize, size - start)
                let part = try self.call(path) { () throws(ObjectStoreError) in
                    try self.client.get(bucket: bucket, key: key, offset: start, count: count)
                }
                guard part.count == count else {
                    throw CheckpointError(
                        code: .unavailable,
                        message: "downloading \(path): got \(part.count) of the \(count) bytes at offset \(start); the "
                            + "object changed or the server cut the answer short. Retry.", path: path, offset: start)
                }
                try self.local.write(part, to: temporary, at: start)
            }
            guard self.local.size(temporary) == size else {
                throw CheckpointError(
                    code: .unavailable,
                    message: "downloading \(path): got \(self.local.size(temporary) ?? 0) of \(size) bytes; the "
                        + "object changed or the server cut the answer short. Retry.", path: path)
            }
            return try self.cache.commit(path, etag: first.etag, size: size, from: temporary)
        } catch {
            try? self.local.remove(temporary)
            throw error
        }
    }

    /// Reads the local copy of `path` with `body`, downloading it again if another process evicted it meanwhile.
    private func withCopy<T>(_ path: String, _ body: (String) throws(CheckpointError) -> T) throws(CheckpointError) -> T {
        do throws(CheckpointError) {
            return try body(try self.fetch(path))
        } catch where error.code == .missing && self.stagedFile(path) == nil {
            self.cache.forget(path)
            return try body(try self.fetch(path))
        }
    }

    public func read(_ path: String) throws(CheckpointError) -> [UInt8] {
        guard let (bucket, key) = try self.object(path) else { return try self.local.read(path) }
        if key.hasSuffix("/_metadata") && self.stagedFile(path) == nil {
            return try self.call(path) { () throws(ObjectStoreError) in try self.client.get(bucket: bucket, key: key) }
        }
        return try self.withCopy(path) { (file) throws(CheckpointError) in try self.local.read(file) }
    }

    public func read(_ path: String, offset: Int, count: Int) throws(CheckpointError) -> [UInt8] {
        var bytes: [UInt8] = []
        try self.read(path, offset: offset, count: count, into: &bytes)
        return bytes
    }

    public func read(_ path: String, offset: Int, count: Int, into buffer: inout [UInt8]) throws(CheckpointError) {
        guard try self.object(path) != nil else {
            return try self.local.read(path, offset: offset, count: count, into: &buffer)
        }
        do throws(CheckpointError) {
            try self.withCopy(path) { (file) throws(CheckpointError) in
                try self.local.read(file, offset: offset, count: count, into: &buffer)
            }
        } catch where error.code == .corrupt {
            throw CheckpointError(
                code: .corrupt, message: "\(path) (read from its local copy): \(error.message)", path: path,
                offset: error.offset)
        }
    }

    public func rename(_ source: String, to destination: String) throws(CheckpointError) {
        guard S3Location.isObjectStoreURL(source) || S3Location.isObjectStoreURL(destination) else {
            return try self.local.rename(source, to: destination)
        }
        _ = try self.copy(from: source, to: destination)
        try self.removeFiles([source])
    }

    public func syncDirectory(_ path: String) throws(CheckpointError) {
        if try self.object(path) == nil { try self.local.syncDirectory(path) }
    }

    public func remove(_ path: String) throws(CheckpointError) {
        guard let (bucket, key) = try self.object(path) else { return try self.local.remove(path) }
        let under = try self.call(path) { () throws(ObjectStoreError) in
            try self.client.list(bucket: bucket, prefix: key.isEmpty ? "" : key + "/")
        }
        // `key/` too: servers with real directories (SeaweedFS) keep an empty one listed until it is deleted.
        let keys = [key] + under.objects.map(\.key) + (key.isEmpty ? [] : [key + "/"])
        for removed in keys { self.forgetCopies("s3://\(bucket)/\(removed)") }
        try self.call(path) { () throws(ObjectStoreError) in try self.client.delete(bucket: bucket, keys: keys) }
    }

    private func forgetCopies(_ path: String) {
        self.dropStaged(path)
        self.cache.forget(path)
    }

    public func removeFiles(_ paths: [String]) throws(CheckpointError) {
        var failure: CheckpointError?
        var byBucket: [String: [String]] = [:]
        for path in paths {
            do throws(CheckpointError) {
                if let (bucket, key) = try self.object(path) {
                    byBucket[bucket, default: []].append(key)
                    self.forgetCopies(path)
                } else {
                    try self.local.remove(path)
                }
            } catch {
                failure = failure ?? error
            }
        }
        for (bucket, keys) in byBucket.sorted(by: { $0.key < $1.key }) {
            do throws(CheckpointError) {
                try self.call("s3://\(bucket)/\(keys[0])") { () throws(ObjectStoreError) in
                    try self.client.delete(bucket: bucket, keys: keys)
                }
            } catch {
                failure = failure ?? error
            }
        }
        if let failure { throw failure }
    }

    public func list(_ path: String) throws(CheckpointError) -> [String] {
        guard let (bucket, key) = try self.object(path) else { return try self.local.list(path) }
        let prefix = key.isEmpty ? "" : key + "/"
        let listing = try self.call(path) { () throws(ObjectStoreError) in
            try self.client.list(bucket: bucket, prefix: prefix, delimiter: "/")
        }
        let names = listing.objects.map { String($0.key.dropFirst(prefix.count)) }
            + listing.prefixes.map { String($0.dropFirst(prefix.count).dropLast()) }
        return Set(names.filter { !$0.isEmpty }).sorted()
    }

    /// Whether an object or anything under `path/` exists; `true` when the server cannot tell (so that no caller
    /// takes a failure for absence and deletes or overwrites something).
    public func exists(_ path: String) -> Bool {
        guard let (bucket, key) = try? self.object(path) else { return self.local.exists(path) }
        if self.stagedFile(path) != nil { return true }
        do throws(ObjectStoreError) {
            if try self.client.head(bucket: bucket, key: key) != nil { return true }
            return try !self.client.list(bucket: bucket, prefix: key + "/", pageSize: 1, firstPageOnly: true).objects.isEmpty
        } catch {
            return true
        }
    }

    /// Lists each folder holding more than two of `paths` once (a restore asks about every changelog segment and
    /// table file it reads; a request per file cost the restore of 14 s of changelog ~0.6 s here) and asks
    /// about the others one by one. As with `exists`, a listing that fails counts its files as present: the
    /// read that follows names the failure.
    public func missing(_ paths: [String]) -> [String] {
        struct Folder: Hashable {
            var bucket: String
            var prefix: String
        }
        // Each object path not being staged, with its folder.
        var objects: [String: (folder: Folder, key: String)] = [:]
        var counts: [Folder: Int] = [:]
        for path in paths {
            guard let (bucket, key) = try? self.object(path), self.stagedFile(path) == nil,
                let slash = key.lastIndex(of: "/")
            else { continue }
            let folder = Folder(bucket: bucket, prefix: String(key[...slash]))
            objects[path] = (folder, key)
            counts[folder, default: 0] += 1
        }
        var listed: [Folder: Set<String>] = [:]  // nil: asked one by one, or the listing failed
        for (folder, count) in counts where count > 2 {
            guard let listing = try? self.client.list(bucket: folder.bucket, prefix: folder.prefix, delimiter: "/")
            else { continue }
            listed[folder] = Set(listing.objects.map(\.key) + listing.prefixes.map { String($0.dropLast()) })
        }
        return paths.filter { path in
            guard let (folder, key) = objects[path], let present = listed[folder] else {
                let unlisted = objects[path].map { (counts[$0.folder] ?? 0) > 2 } ?? false
                return !unlisted && !self.exists(path)
            }
            return !present.contains(key)
        }
    }

    /// Whether any object is under `path/` (the bucket's top: whether the bucket answers); `true` when the
    /// server cannot tell, so that the next call reports why.
    public func isDirectory(_ path: String) -> Bool {
        guard let (bucket, key) = try? self.object(path) else { return self.local.isDirectory(path) }
        do throws(ObjectStoreError) {
            let listing = try self.client.list(
                bucket: bucket, prefix: key.isEmpty ? "" : key + "/", pageSize: 1, firstPageOnly: true)
            return key.isEmpty || !listing.objects.isEmpty
        } catch {
            return true
        }
    }

    /// The object's size from the server (a staged file's from its staging copy); a local copy whose entity tag
    /// differs from the server's is dropped, so the next read downloads the object as it is now.
    public func size(_ path: String) -> Int? {
        guard let (bucket, key) = try? self.object(path) else { return self.local.size(path) }
        if let file = self.stagedFile(path) { return self.local.size(file) }
        guard let info = try? self.client.head(bucket: bucket, key: key) else { return nil }
        if self.cache.etag(of: path) != nil && !self.cache.isCurrent(path, etag: info.etag) { self.cache.forget(path) }
        return info.size
    }

    public func link(_ source: String, to destination: String) throws(CheckpointError) {
        guard S3Location.isObjectStoreURL(source) || S3Location.isObjectStoreURL(destination) else {
            return try self.local.link(source, to: destination)
        }
        _ = try self.copy(from: source, to: destination)
    }

    /// `path` itself for an object (keys have no symlinks), without trailing `/`.
    public func realPath(_ path: String) -> String? {
        guard S3Location.isObjectStoreURL(path) else { return self.local.realPath(path) }
        var trimmed = Substring(path)
        while trimmed.hasSuffix("/") && trimmed.count > 5 { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }

    /// A conditional create (`If-None-Match: *`): complete at once, and `.duplicate` when the object exists.
    public func publish(_ bytes: [UInt8], to path: String) throws(CheckpointError) {
        guard let (bucket, key) = try self.object(path) else { return try self.local.publish(bytes, to: path) }
        do throws(ObjectStoreError) {
            try self.client.put(bucket: bucket, key: key, bytes: bytes, ifNoneMatch: true)
        } catch where error.code == .alreadyExists {
            throw CheckpointError(
                code: .duplicate,
                message: "\(path) already exists: another writer published this checkpoint first (two jobs on one "
                    + "root?). Nothing was overwritten; give each job its own root.", path: path, cause: error)
        } catch {
            throw Self.failure(error, path)
        }
    }

    /// Downloads the objects among `paths` that have no local copy, `concurrency` × 2 at once.
    public func prefetch(_ paths: [String]) throws(CheckpointError) {
        let missing = paths.filter { S3Location.isObjectStoreURL($0) && self.cache.lookup($0) == nil }
        guard !missing.isEmpty else { return }
        _ = try ParallelCalls.map(missing, width: self.concurrency * 2) { path throws(CheckpointError) in
            _ = try self.fetch(path)
        }
    }
}
