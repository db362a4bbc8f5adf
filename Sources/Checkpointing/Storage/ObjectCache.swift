#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StateCore
import Synchronization

/// A bounded local directory of copies of objects (`s3://…` files), evicting the least recently used beyond its
/// capacity. Restores, changelog reads and `weir verify` read through it, so a file is downloaded once and
/// reused by later restores on the machine, even across processes.
///
/// A copy's file name is its URL, escaped, then `#` and the object's entity tag: a copy is used only while the
/// object still has that tag (`ObjectStoreFileSystem.size` compares it with the server's), so an object replaced
/// behind Weir's back is read again rather than served stale. Downloads go to `.partial-*` names and are renamed
/// into place when complete; leftovers are removed when a cache opens. Thread-safe; several processes may share
/// the directory (each counts only what it sees, and a copy evicted by another is downloaded again).
public final class ObjectCache: Sendable {
    /// The directory holding the copies.
    public let directory: String
    /// The bytes kept before the least recently used copies are evicted.
    public let capacity: Int

    private struct Entry: Sendable {
        var file: String
        var etag: String
        var size: Int
        var lastUse: UInt64
    }

    private struct State: Sendable {
        var entries: [String: Entry] = [:]
        var bytes = 0
        var clock: UInt64 = 0
    }

    private let state = Mutex(State())
    private let local = LocalFileSystem()

    /// Opens (creating) a cache directory and takes stock of the copies in it, oldest modification first.
    /// - Throws: `.io`/`.noSpace` when the directory cannot be created.
    public init(directory: String, capacity: Int = 2 << 30) throws(CheckpointError) {
        self.directory = directory
        self.capacity = max(capacity, 0)
        try self.local.createDirectory(directory)
        var found: [(Entry, url: String, modified: Int)] = []
        for name in try self.local.list(directory) {
            let path = "\(directory)/\(name)"
            if name.hasPrefix(".partial-") {
                try? self.local.remove(path)
                continue
            }
            guard let hash = name.lastIndex(of: "#"), let size = self.local.size(path) else { continue }
            var info = stat()
            let modified = stat(path, &info) == 0 ? Int(info.st_mtim.tv_sec) : 0
            found.append((Entry(file: name, etag: String(name[name.index(after: hash)...]), size: size, lastUse: 0),
                          String(name[..<hash]), modified))
        }
        self.state.withLock { state in
            for (entry, url, _) in found.sorted(by: { $0.modified < $1.modified }) {
                var entry = entry
                state.clock += 1
                entry.lastUse = state.clock
                if let old = state.entries[url] { state.bytes -= old.size }
                state.entries[url] = entry
                state.bytes += entry.size
            }
        }
        self.evict(keeping: nil)
    }

    /// The bytes the copies take.
    public var usedBytes: Int { self.state.withLock { $0.bytes } }

    /// The local path of the copy of `url`, or `nil` when there is none. Counts as a use.
    public func lookup(_ url: String) -> String? {
        let key = Self.escape(url)
        let file = self.state.withLock { state -> String? in
            guard var entry = state.entries[key] else { return nil }
            state.clock += 1
            entry.lastUse = state.clock
            state.entries[key] = entry
            return entry.file
        }
        guard let file else { return nil }
        let path = "\(self.directory)/\(file)"
        guard self.local.exists(path) else {
            self.forget(url)    // evicted by another process
            return nil
        }
        return path
    }

    /// The entity tag of the copy of `url`, if there is one.
    public func etag(of url: String) -> String? {
        self.state.withLock { $0.entries[Self.escape(url)]?.etag }
    }

    /// A new temporary path to download `url` into before `commit`.
    public func temporaryPath() -> String {
        var generator = SystemRandomNumberGenerator()
        return "\(self.directory)/.partial-\(String(generator.next() as UInt64, radix: 16))"
    }

    /// Moves a complete download of `url` (entity tag `etag`, `size` bytes) from `temporary` into the cache,
    /// replacing an older copy, evicts beyond the capacity, and returns the copy's path.
    /// - Throws: `.io` when the rename fails (the temporary file is removed).
    @discardableResult
    public func commit(_ url: String, etag: String, size: Int, from temporary: String) throws(CheckpointError) -> String {
        let key = Self.escape(url)
        let file = "\(key)#\(Self.sanitize(etag))"
        let path = "\(self.directory)/\(file)"
        do throws(CheckpointError) {
            try self.local.rename(temporary, to: path)
        } catch {
            try? self.local.remove(temporary)
            throw error
        }
        let replaced = self.state.withLock { state -> String? in
            state.clock += 1
            let old = state.entries[key]
            if let old { state.bytes -= old.size }
            state.entries[key] = Entry(file: file, etag: Self.sanitize(etag), size: size, lastUse: state.clock)
            state.bytes += size
            return old.map(\.file).flatMap { $0 == file ? nil : $0 }
        }
        if let replaced { try? self.local.remove("\(self.directory)/\(replaced)") }
        self.evict(keeping: key)
        return path
    }

    /// Stores `bytes` as the copy of `url` (an object just written, so that reading it back downloads nothing).
    /// Failures are ignored: the cache is only a copy.
    public func store(_ bytes: [UInt8], url: String, etag: String) {
        let temporary = self.temporaryPath()
        do throws(CheckpointError) {
            try self.local.write(bytes, to: temporary, sync: false)
            try self.commit(url, etag: etag, size: bytes.count, from: temporary)
        } catch {
            try? self.local.remove(temporary)
        }
    }

    /// Drops the copy of `url` (the object was deleted or changed).
    public func forget(_ url: String) {
        let key = Self.escape(url)
        let file = self.state.withLock { state -> String? in
            guard let entry = state.entries.removeValue(forKey: key) else { return nil }
            state.bytes -= entry.size
            return entry.file
        }
        if let file { try? self.local.remove("\(self.directory)/\(file)") }
    }

    /// Whether `etag` (as the server reports it) is the tag of the copy of `url`.
    public func isCurrent(_ url: String, etag: String) -> Bool {
        self.etag(of: url) == Self.sanitize(etag)
    }

    /// Removes the least recently used copies until the cache fits its capacity (never `keeping`).
    private func evict(keeping key: String?) {
        let victims = self.state.withLock { state -> [String] in
            guard state.bytes > self.capacity else { return [] }
            var victims: [String] = []
            for (url, entry) in state.entries.sorted(by: { $0.value.lastUse < $1.value.lastUse }) {
                guard state.bytes > self.capacity else { break }
                if url == key { continue }
                state.entries[url] = nil
                state.bytes -= entry.size
                victims.append(entry.file)
            }
            return victims
        }
        for file in victims { try? self.local.remove("\(self.directory)/\(file)") }
    }

    /// `url` as a file name: letters, digits, `.`, `_` and `-` kept, everything else `%XX`; a long one is cut to
    /// its start and end around the CRC-32C of the whole.
    static func escape(_ url: String) -> String {
        var name = ""
        for byte in url.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                name.append(Character(Unicode.Scalar(byte)))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                name += byte < 16 ? "%0\(hex)" : "%\(hex)"
            }
        }
        if name.hasPrefix(".") { name = "%2E" + name.dropFirst() }
        guard name.utf8.count > 180 else { return name }
        let checksum = String(CRC32C.checksum(Array(url.utf8)), radix: 16)
        return "\(name.prefix(60))~\(checksum)~\(name.suffix(100))"
    }

    /// An entity tag as a file-name part: letters and digits only (quotes and dashes dropped).
    static func sanitize(_ etag: String) -> String {
        String(etag.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }
            .map(Character.init))
    }
}
