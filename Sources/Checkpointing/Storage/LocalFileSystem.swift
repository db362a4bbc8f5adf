#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RocksKit
import StateCore

/// The real file system, through POSIX calls.
public struct LocalFileSystem: CheckpointFileSystem {
    /// Creates the file system.
    public init() {}

    static func failure(_ operation: String, _ path: String, errno code: Int32 = errno) -> CheckpointError {
        let reason = String(cString: strerror(code))
        switch code {
        case ENOSPC, EDQUOT:
            return CheckpointError(
                code: .noSpace,
                message: "\(operation) \(path): \(reason). Free space on that file system; the checkpoint that hit "
                    + "this failed and earlier checkpoints are intact.", path: path)
        case ENOENT:
            return CheckpointError(code: .missing, message: "\(operation) \(path): \(reason)", path: path)
        default:
            return CheckpointError(code: .io, message: "\(operation) \(path): \(reason)", path: path)
        }
    }

    public func createDirectory(_ path: String) throws(CheckpointError) {
        if self.isDirectory(path) { return }
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST { throw Self.failure("create directory", prefix) }
        }
    }

    public func write(_ bytes: [UInt8], to path: String, sync: Bool) throws(CheckpointError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Self.failure("create", path) }
        defer { close(fd) }
        try Self.writeAll(fd, bytes, path)
        if sync && fsync(fd) != 0 { throw Self.failure("fsync", path) }
    }

    /// Writes `bytes` at `offset` of a file, creating it when missing and leaving the rest as it is (parts of a
    /// download, written from several threads as they arrive). Not synced.
    public func write(_ bytes: [UInt8], to path: String, at offset: Int) throws(CheckpointError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Self.failure("open for writing", path) }
        defer { close(fd) }
        try Self.writeAll(fd, bytes, path, at: offset)
    }

    public func append(_ bytes: [UInt8], to path: String) throws(CheckpointError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Self.failure("open for append", path) }
        defer { close(fd) }
        try Self.writeAll(fd, bytes, path)
    }

    public func sync(_ path: String) throws(CheckpointError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure("open", path) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw Self.failure("fsync", path) }
    }

    /// Writes all of `bytes` at the file's position, or from `offset` when one is given.
    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], _ path: String, at offset: Int? = nil)
        throws(CheckpointError)
    {
        let failed: CheckpointError? = bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let written =
                    if let offset { pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset + done)) }
                    else { Glibc.write(fd, raw.baseAddress! + done, raw.count - done) }
                if written < 0 {
                    if errno == EINTR { continue }
                    return Self.failure(offset.map { "write at offset \($0 + done) of" } ?? "write", path)
                }
                done += written
            }
            return nil
        }
        if let failed { throw failed }
    }

    public func copy(from source: String, to destination: String) throws(CheckpointError)
        -> (size: Int, crc32c: UInt32)
    {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw Self.failure("open", source) }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw Self.failure("create", destination) }
        defer { close(output) }
        var crc: UInt32 = 0
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(input, $0.baseAddress!, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Self.failure("read", source)
            }
            if count == 0 { break }
            let chunk = Array(buffer[0..<count])
            crc = chunk.withUnsafeBytes { HardwareCRC32C.extend(crc, $0) }
            try Self.writeAll(output, chunk, destination)
            total += count
            // Write back as we go (as RocksDB's bytes_per_sync does): a large copy never leaves much dirty data for
            // the final fsync, nor for a checkpoint's fsync of its changelog tail that the journal would make wait.
            if total % (1 << 20) == 0 && fdatasync(output) != 0 { throw Self.failure("fdatasync", destination) }
        }
        if fsync(output) != 0 { throw Self.failure("fsync", destination) }
        return (total, crc)
    }

    public func read(_ path: String) throws(CheckpointError) -> [UInt8] {
        guard let size = self.size(path) else { throw Self.failure("read", path, errno: ENOENT) }
        return try self.read(path, offset: 0, count: size)
    }

    public func read(_ path: String, offset: Int, count: Int) throws(CheckpointError) -> [UInt8] {
        var bytes: [UInt8] = []
        try self.read(path, offset: offset, count: count, into: &bytes)
        return bytes
    }

    public func read(_ path: String, offset: Int, count: Int, into bytes: inout [UInt8]) throws(CheckpointError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure("open", path) }
        defer { close(fd) }
        if bytes.count > count {
            bytes.removeLast(bytes.count - count)
        } else {
            bytes.append(contentsOf: repeatElement(0, count: count - bytes.count))
        }
        var done = 0
        while done < count {
            let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if got < 0 {
                if errno == EINTR { continue }
                throw Self.failure("read", path)
            }
            if got == 0 {
                throw CheckpointError(
                    code: .corrupt,
                    message: "\(path) is truncated: wanted \(count) bytes at offset \(offset), the file ends at "
                        + "\(offset + done)", path: path, offset: offset + done)
            }
            done += got
        }
    }

    public func rename(_ source: String, to destination: String) throws(CheckpointError) {
        if Glibc.rename(source, destination) != 0 { throw Self.failure("rename to \(destination):", source) }
    }

    public func syncDirectory(_ path: String) throws(CheckpointError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure("open directory", path) }
        defer { close(fd) }
        if fsync(fd) != 0 && errno != EINVAL { throw Self.failure("fsync directory", path) }
    }

    public func remove(_ path: String) throws(CheckpointError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in try self.list(path) { try self.remove("\(path)/\(name)") }
            if rmdir(path) != 0 && errno != ENOENT { throw Self.failure("remove directory", path) }
        } else if unlink(path) != 0 && errno != ENOENT {
            throw Self.failure("remove", path)
        }
    }

    public func list(_ path: String) throws(CheckpointError) -> [String] {
        guard let directory = opendir(path) else {
            if errno == ENOENT || errno == ENOTDIR { return [] }
            throw Self.failure("list", path)
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    public func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    public func size(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(info.st_size)
    }

    public func link(_ source: String, to destination: String) throws(CheckpointError) {
        if Glibc.link(source, destination) == 0 { return }
        if errno == EXDEV || errno == EPERM {
            _ = try self.copy(from: source, to: destination)
            return
        }
        throw Self.failure("link to \(destination):", source)
    }

    public func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
