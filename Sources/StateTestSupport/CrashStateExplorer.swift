/// The directories a crash can leave while a recorded protocol runs, in the manner of ALICE (Pillai et al.,
/// "All File Systems Are Not Created Equal", OSDI 2014): for every crash point (every prefix of the recorded
/// `FileOperation`s), the operations issued before it that no fsync has made durable yet may each have reached the
/// disk or not, in any combination POSIX allows.
///
/// The persistence model:
/// - A directory entry change (`create`, `rename`, `link`, `unlink`, `mkdir`, `rmdir`) is durable once every
///   directory it changes has been fsynced after it. A file's data is durable once the file (the inode, whatever
///   its name by then) has been fsynced after it.
/// - Before that, each such operation is independent: any subset of them may have persisted, in any order. Data
///   written to one file persists whole, not at all, or torn (half of it).
/// - What each crash point explores: everything persisted; nothing unsynced persisted; each unsynced operation
///   alone lost; each unsynced write alone torn; and, when at most `subsetLimit` operations are unsynced, every
///   subset of them.
/// - A file whose directory's own entry was lost is gone with it; an `rmdir` that persisted takes what was in the
///   directory.
///
/// States that give the same tree (the same entries, inodes and writes) are reported once.
public enum CrashStateExplorer {
    /// One crash state: the tree, and how it came about.
    public struct CrashState: Sendable {
        /// What the root holds after the crash.
        public var image: DirectoryImage
        /// How many of the recorded operations were issued before the crash.
        public var crashPoint: Int
        /// The issued operations that did not reach the disk (indices into the record).
        public var lost: [Int]
        /// The issued write that reached the disk only in half, if any.
        public var torn: Int?
        /// Whether every subset of the operations unsynced at this crash point was explored (at most
        /// `subsetLimit` of them), not only the single losses.
        public var exhaustive: Bool

        /// The crash point, the lost and the torn operations, named.
        public func describe(_ operations: [FileOperation]) -> String {
            var parts = ["crash after \(self.crashPoint) of \(operations.count) operations"]
            if self.crashPoint > 0 { parts.append("last issued: \(operations[self.crashPoint - 1])") }
            if !self.lost.isEmpty { parts.append("lost: " + self.lost.map { "#\($0) \(operations[$0])" }.joined(separator: ", ")) }
            if let torn = self.torn { parts.append("torn: #\(torn) \(operations[torn])") }
            return parts.joined(separator: "; ")
        }
    }

    private enum Entry: Hashable {
        case bind(String, inode: Int)
        case unbind(String)
        case move(String, String)
        case makeDirectory(String)
        case removeDirectory(String)
    }

    private enum Step {
        case entry(Entry, directories: Set<String>)
        case data(inode: Int, bytes: [UInt8], append: Bool)
        case syncFile(inode: Int)
        case syncDirectory(String)
    }

    /// What a crash state holds before its bytes are built: equal abstracts give equal trees.
    private struct Abstract: Hashable {
        var directories: Set<String>
        var entries: [String: Int]
        var writes: [Int: [Int]]
        var torn: Int?
    }

    /// Every distinct crash state of `operations` run on a root that held `initial` (taken as durable).
    public static func crashStates(
        initial: DirectoryImage, operations: [FileOperation], subsetLimit: Int = 8
    ) -> [CrashState] {
        var contents: [[UInt8]] = []
        var live: [String: Int] = [:]
        for (path, bytes) in initial.files.sorted(by: { $0.key < $1.key }) {
            live[path] = contents.count
            contents.append(bytes)
        }
        let initialEntries = live
        func newInode(_ bytes: [UInt8]) -> Int {
            contents.append(bytes)
            return contents.count - 1
        }
        func inode(_ path: String) -> Int {
            if let inode = live[path] { return inode }
            let made = newInode([])
            live[path] = made
            return made
        }
        var steps: [Step] = []
        for operation in operations {
            switch operation {
            case .makeDirectory(let path):
                steps.append(.entry(.makeDirectory(path), directories: [parent(path)]))
            case .create(let path):
                let made = newInode([])
                live[path] = made
                steps.append(.entry(.bind(path, inode: made), directories: [parent(path)]))
            case .write(let path, let bytes, let append):
                steps.append(.data(inode: inode(path), bytes: bytes, append: append))
            case .sync(let path):
                steps.append(.syncFile(inode: inode(path)))
            case .rename(let source, let target):
                live[target] = live[source]
                live[source] = nil
                steps.append(.entry(.move(source, target), directories: [parent(source), parent(target)]))
            case .link(let path, let bytes):
                let made = newInode(bytes)
                live[path] = made
                steps.append(.entry(.bind(path, inode: made), directories: [parent(path)]))
            case .unlink(let path):
                live[path] = nil
                steps.append(.entry(.unbind(path), directories: [parent(path)]))
            case .removeDirectory(let path):
                live = live.filter { !$0.key.hasPrefix(path + "/") }
                steps.append(.entry(.removeDirectory(path), directories: [parent(path)]))
            case .syncDirectory(let path):
                steps.append(.syncDirectory(path))
            }
        }
        let durableAt = Self.durability(steps)
        var seen: Set<Abstract> = []
        var states: [CrashState] = []
        for crashPoint in 0...steps.count {
            let unsynced = (0..<crashPoint).filter { durableAt[$0] >= crashPoint }
            var choices: [(lost: [Int], torn: Int?)] = [([], nil), (unsynced, nil)]
            for index in unsynced {
                choices.append(([index], nil))
                if case .data = steps[index] { choices.append(([], index)) }
            }
            if unsynced.count <= subsetLimit {
                for mask in 0..<(1 << unsynced.count) {
                    choices.append((unsynced.indices.filter { mask & (1 << $0) != 0 }.map { unsynced[$0] }, nil))
                }
            }
            for choice in choices {
                let abstract = Self.abstract(
                    steps: steps, crashPoint: crashPoint, lost: Set(choice.lost), torn: choice.torn,
                    directories: initial.directories, entries: initialEntries)
                guard seen.insert(abstract).inserted else { continue }
                states.append(CrashState(
                    image: Self.image(abstract, steps: steps, contents: contents), crashPoint: crashPoint,
                    lost: choice.lost, torn: choice.torn, exhaustive: unsynced.count <= subsetLimit))
            }
        }
        return states
    }

    /// The directory holding `path` (`""` for the root).
    private static func parent(_ path: String) -> String {
        path.lastIndex(of: "/").map { String(path[..<$0]) } ?? ""
    }

    /// For each step, the first crash point at which it is surely on disk (`Int.max`: never in this record).
    private static func durability(_ steps: [Step]) -> [Int] {
        steps.indices.map { index in
            switch steps[index] {
            case .entry(_, let directories):
                return directories.map { directory in
                    steps[(index + 1)...].firstIndex {
                        if case .syncDirectory(directory) = $0 { return true } else { return false }
                    }.map { $0 + 1 } ?? Int.max
                }.max() ?? Int.max
            case .data(let inode, _, _):
                return steps[(index + 1)...].firstIndex {
                    if case .syncFile(inode) = $0 { return true } else { return false }
                }.map { $0 + 1 } ?? Int.max
            case .syncFile, .syncDirectory:
                return 0
            }
        }
    }

    private static func abstract(
        steps: [Step], crashPoint: Int, lost: Set<Int>, torn: Int?, directories: Set<String>, entries: [String: Int]
    ) -> Abstract {
        var state = Abstract(directories: directories, entries: entries, writes: [:], torn: torn)
        for index in 0..<crashPoint where !lost.contains(index) {
            switch steps[index] {
            case .entry(.bind(let path, let inode), _):
                state.entries[path] = inode
            case .entry(.unbind(let path), _):
                state.entries[path] = nil
            case .entry(.move(let source, let target), _):
                // A rename whose source entry never reached the disk changes nothing.
                if let inode = state.entries.removeValue(forKey: source) { state.entries[target] = inode }
            case .entry(.makeDirectory(let path), _):
                state.directories.insert(path)
            case .entry(.removeDirectory(let path), _):
                state.directories = state.directories.filter { $0 != path && !$0.hasPrefix(path + "/") }
                state.entries = state.entries.filter { !$0.key.hasPrefix(path + "/") }
            case .data(let inode, _, _):
                state.writes[inode, default: []].append(index)
            case .syncFile, .syncDirectory:
                break
            }
        }
        // What hangs off a directory whose own entry is not there cannot be reached.
        func reachable(_ path: String) -> Bool {
            var folder = Self.parent(path)
            while !folder.isEmpty {
                if !state.directories.contains(folder) { return false }
                folder = Self.parent(folder)
            }
            return true
        }
        state.directories = state.directories.filter(reachable)
        state.entries = state.entries.filter { reachable($0.key) }
        let inodes = Set(state.entries.values)
        state.writes = state.writes.filter { inodes.contains($0.key) }
        if let torn, !state.writes.values.contains(where: { $0.contains(torn) }) { state.torn = nil }
        return state
    }

    private static func image(_ abstract: Abstract, steps: [Step], contents: [[UInt8]]) -> DirectoryImage {
        var image = DirectoryImage()
        image.directories = abstract.directories
        for (path, inode) in abstract.entries {
            var bytes = contents[inode]
            for index in abstract.writes[inode] ?? [] {
                guard case .data(_, let written, let append) = steps[index] else { continue }
                let landed = index == abstract.torn ? Array(written.prefix(written.count / 2)) : written
                bytes = append ? bytes + landed : landed
            }
            image.files[path] = bytes
        }
        return image
    }
}
