import Checkpointing
import Dispatch
import RocksKit
import StateCore
import Synchronization

/// What `verify` found.
public struct VerifyReport: Sendable {
    /// One thing wrong, with where it is.
    public struct Problem: Sendable, CustomStringConvertible {
        /// The checkpoint concerned, if any.
        public var checkpointID: Int64?
        /// The file concerned (relative to the root), if any.
        public var path: String?
        /// What is wrong and what to do.
        public var message: String
        /// About the file's bytes (missing, size, checksum, decoding), which every checkpoint referencing it shares;
        /// otherwise about the checkpoint's metadata alone.
        var concernsFile = false

        /// `checkpoint N: message`.
        public var description: String { (self.checkpointID.map { "checkpoint \($0): " } ?? "") + self.message }
    }

    /// Completed checkpoints verified.
    public var checkpoints: [Int64] = []
    /// Distinct files checked.
    public var files = 0
    /// Bytes read to check them.
    public var bytesRead = 0
    /// Everything wrong.
    public var problems: [Problem] = []
    /// Files in `shared/` no completed checkpoint references (a running job's newest uploads show up here too).
    public var orphans: [String] = []
    /// Checkpoint folders without `_metadata` (aborted, or being written).
    public var incomplete: [String] = []
    /// Checkpoints a running job removed (subsumed) while they were read: what looked wrong with them was the
    /// job's cleanup, so it is not reported, and they are not among `checkpoints`.
    public var subsumed: [Int64] = []

    /// True when nothing is wrong.
    public var isClean: Bool { self.problems.isEmpty }
}

extension CheckpointInspector {
    /// Verifies every completed checkpoint under the root (or just `only`): referenced files present, inside the
    /// root, of the recorded size and CRC-32C; changelog sections and state snapshots decodable; changelog SQNs
    /// continuous from the materialization to the checkpoint; shared files nothing references listed as orphans.
    /// Reads every referenced byte once.
    /// - Throws: `CheckpointError` only when the root cannot be listed; everything else is a problem in the report.
    public func verify(only: CheckpointMetadata? = nil) throws(CheckpointError) -> VerifyReport {
        var report = VerifyReport()
        var checkpoints: [CheckpointMetadata] = []
        var inFolders = Set<Int64>()    // ids read from a chk-<id> folder (a job may subsume them), not savepoints
        if let only {
            checkpoints = [only]
            if only.kind != .savepoint { inFolders.insert(only.checkpointID) }
        } else {
            for entry in try self.entries() {
                if entry.folder != "." { inFolders.insert(entry.id) }
                switch entry.status {
                case .completed: if let metadata = entry.metadata { checkpoints.append(metadata) }
                case .incomplete: report.incomplete.append(entry.folder)
                case .damaged(let message):
                    report.problems.append(.init(checkpointID: entry.id, path: "\(entry.folder)/_metadata", message: message))
                }
            }
        }
        var checked: [String: Bool] = [:]
        var files: [(StoredFile, Int64)] = []
        var listed = Set<String>()
        for metadata in checkpoints {
            var handles = metadata.backends.flatMap { ($0.materialization?.files ?? []) + $0.changelog.map(\.file) }
            handles += (metadata.tasks ?? []).compactMap(\.channelState)
            for file in handles where listed.insert(file.path).inserted { files.append((file, metadata.checkpointID)) }
        }
        let checksums = self.checksums(files)
        var envelopes = ChangelogSegment.EnvelopeCheck()
        for metadata in checkpoints {
            let id = metadata.checkpointID
            report.checkpoints.append(id)
            for backend in metadata.backends {
                var files = backend.materialization?.files ?? []
                files += backend.changelog.map(\.file)
                for file in files where checked[file.path] == nil {
                    checked[file.path] = self.checkFile(file, checkpoint: id, checksums: checksums, into: &report)
                }
                if let materialization = backend.materialization, materialization.format == .rocksDB {
                    for file in materialization.files {
                        guard let problem = file.localNameProblem else { continue }
                        report.problems.append(.init(
                            checkpointID: id, path: file.path,
                            message: "backend '\(backend.backendID)': the materialized file \(file.path) \(problem); "
                                + "restore refuses it (restore an older checkpoint)"))
                    }
                }
                for section in backend.changelog where checked[section.file.path] == true {
                    do throws(CheckpointError) {
                        let path = try self.resolve(section.file.path, checkpoint: id)
                        try envelopes.check(path, fileSystem: self.fileSystem)
                        let bytes = try self.fileSystem.read(path, offset: section.offset, count: section.length)
                        try ChangelogSegment.records(
                            ofSection: bytes, handle: section, backendID: backend.backendID, path: section.file.path
                        ) { _ in }
                    } catch {
                        report.problems.append(.init(
                            checkpointID: id, path: section.file.path, message: error.message, concernsFile: true))
                    }
                }
                if let snapshot = backend.materialization, snapshot.format == .stateSnapshot {
                    for file in snapshot.files where checked[file.path] == true {
                        do throws(CheckpointError) {
                            try StateSnapshotFile.read(
                                fileSystem: self.fileSystem, path: try self.resolve(file.path, checkpoint: id),
                                size: file.size, crc32c: file.crc32c
                            ) { _ in } entry: { _, _, _, _ in }
                        } catch {
                            report.problems.append(.init(
                                checkpointID: id, path: file.path, message: error.message, concernsFile: true))
                        }
                    }
                }
                var expected = backend.materialization?.sqn ?? 0
                for section in backend.changelog.sorted(by: { $0.firstSQN < $1.firstSQN }) {
                    if section.firstSQN > expected {
                        report.problems.append(.init(
                            checkpointID: id, path: section.file.path,
                            message: "backend '\(backend.backendID)': changelog gap, SQN \(expected)..<\(section.firstSQN) "
                                + "is in no section"))
                    }
                    expected = max(expected, section.endSQN)
                }
                if expected < backend.sqn {
                    report.problems.append(.init(
                        checkpointID: id, path: nil,
                        message: "backend '\(backend.backendID)': the changelog ends at SQN \(expected), the checkpoint "
                            + "covers up to \(backend.sqn)"))
                }
            }
        }
        for metadata in checkpoints {
            for task in metadata.tasks ?? [] {
                guard let file = task.channelState, checked[file.path] == nil else { continue }
                checked[file.path] = self.checkFile(
                    file, checkpoint: metadata.checkpointID, checksums: checksums, into: &report)
                guard checked[file.path] == true else { continue }
                do throws(CheckpointError) {
                    let decoded = try ChannelStateFile.decode(
                        try self.fileSystem.read(try self.resolve(file.path, checkpoint: metadata.checkpointID)), path: file.path)
                    if decoded.dataBytes != task.inflightBytes || decoded.checkpointID != metadata.checkpointID {
                        report.problems.append(.init(
                            checkpointID: metadata.checkpointID, path: file.path,
                            message: "channel state of \(task.vertex)/\(task.subtask) holds \(decoded.dataBytes) bytes of "
                                + "checkpoint \(decoded.checkpointID); the metadata says \(task.inflightBytes) bytes of "
                                + "checkpoint \(metadata.checkpointID)"))
                    }
                } catch {
                    report.problems.append(.init(checkpointID: metadata.checkpointID, path: file.path, message: error.message))
                }
            }
        }
        report.files = checked.count
        if only == nil {
            let referenced = Set(checked.keys)
            for name in (try? self.fileSystem.list(self.root + "/shared")) ?? [] where !referenced.contains("shared/\(name)") {
                report.orphans.append("shared/\(name)")
            }
        }
        return self.withoutSubsumed(report, inFolders: inFolders)
    }

    /// On a root a job is writing, the job may subsume a checkpoint while it is read: its `_metadata` goes first,
    /// then the files only it referenced. Problems of a checkpoint whose `_metadata` is gone by the end of the
    /// read are that cleanup, not damage, and are dropped; a problem with a file that a completed checkpoint
    /// references now (re-read) stays, named for that checkpoint: the job never deletes or rewrites what a
    /// completed checkpoint needs.
    private func withoutSubsumed(_ report: VerifyReport, inFolders: Set<Int64>) -> VerifyReport {
        let suspects = Set(report.problems.compactMap(\.checkpointID)).intersection(inFolders)
        let gone = suspects.filter { !self.fileSystem.exists("\(self.root)/chk-\($0)/_metadata") }
        guard !gone.isEmpty else { return report }
        var holders: [String: Int64] = [:]    // path → the oldest completed checkpoint referencing it now
        for entry in (try? self.entries()) ?? [] {
            guard entry.status == .completed, let metadata = entry.metadata else { continue }
            for path in metadata.referencedPaths where holders[path] == nil { holders[path] = entry.id }
        }
        var report = report
        report.problems = report.problems.compactMap { problem in
            guard let id = problem.checkpointID, gone.contains(id) else { return problem }
            guard problem.concernsFile, let path = problem.path, let holder = holders[path] else { return nil }
            var kept = problem
            kept.checkpointID = holder
            return kept
        }
        report.checkpoints.removeAll { gone.contains($0) }
        report.subsumed = gone.sorted()
        return report
    }

    /// The CRC-32C of every file that exists with its recorded size. Files are read one after another in 4 MiB
    /// pieces, in order (the access pattern of a plain sequential read, which the page cache's read-ahead serves
    /// best), and checksummed with the CPU's CRC-32C instruction on a second thread while the next piece is read:
    /// verify takes about the time of reading the bytes once. On object storage the files are first downloaded in
    /// parallel (`prefetch`), a window of about 256 MiB at a time so that a root larger than the object cache is
    /// still downloaded once; a file the prefetch could not fetch is read (and its problem reported) below.
    private func checksums(_ files: [(StoredFile, Int64)]) -> [String: Result<UInt32, CheckpointError>] {
        let piece = 4 << 20
        let checksummer = DispatchQueue(label: "weir-verify-crc")
        let inFlight = DispatchSemaphore(value: 2)
        var combined: [String: Result<UInt32, CheckpointError>] = [:]
        var prefetched = 0
        for (index, (file, id)) in files.enumerated() {
            if index == prefetched { prefetched = self.prefetch(files, from: index, window: 256 << 20) }
            guard let path = try? self.resolve(file.path, checkpoint: id), self.fileSystem.size(path) == file.size else { continue }
            let running = RunningChecksum()
            var offset = 0
            var failure: CheckpointError?
            while offset < file.size {
                let count = min(piece, file.size - offset)
                let bytes: [UInt8]
                do { bytes = try self.fileSystem.read(path, offset: offset, count: count) } catch {
                    failure = error
                    break
                }
                inFlight.wait()
                checksummer.async {
                    running.extend(bytes)
                    inFlight.signal()
                }
                offset += count
            }
            checksummer.sync {}
            combined[file.path] = failure.map { .failure($0) } ?? .success(running.value)
        }
        return combined
    }

    /// Prefetches the files from `start` on up to about `window` bytes (at least one file).
    /// - Returns: The index after the last file prefetched.
    private func prefetch(_ files: [(StoredFile, Int64)], from start: Int, window: Int) -> Int {
        var end = start
        var bytes = 0
        var paths: [String] = []
        while end < files.count && (end == start || bytes + files[end].0.size <= window) {
            if let path = try? self.resolve(files[end].0.path, checkpoint: files[end].1) { paths.append(path) }
            bytes += files[end].0.size
            end += 1
        }
        try? self.fileSystem.prefetch(paths)
        return end
    }

    private func checkFile(
        _ file: StoredFile, checkpoint id: Int64, checksums: [String: Result<UInt32, CheckpointError>],
        into report: inout VerifyReport
    ) -> Bool {
        let path: String
        do throws(CheckpointError) { path = try self.resolve(file.path, checkpoint: id) } catch {
            report.problems.append(.init(checkpointID: id, path: file.path, message: error.message))
            return false
        }
        guard let size = self.fileSystem.size(path) else {
            report.problems.append(.init(
                checkpointID: id, path: file.path,
                message: "\(file.path) is referenced but missing; restore an older checkpoint or a savepoint", concernsFile: true))
            return false
        }
        guard size == file.size else {
            report.problems.append(.init(
                checkpointID: id, path: file.path,
                message: "\(file.path) has \(size) bytes, the checkpoint recorded \(file.size) (truncated or replaced)", concernsFile: true))
            return false
        }
        let value: UInt32
        switch checksums[file.path] {
        case .success(let crc): value = crc
        case .failure(let error):
            report.problems.append(.init(checkpointID: id, path: file.path, message: error.message, concernsFile: true))
            return false
        case nil:
            report.problems.append(.init(
                checkpointID: id, path: file.path, message: "\(file.path) changed while it was verified", concernsFile: true))
            return false
        }
        report.bytesRead += size
        guard value == file.crc32c else {
            report.problems.append(.init(
                checkpointID: id, path: file.path,
                message: "\(file.path): CRC-32C \(String(value, radix: 16)) differs from the recorded "
                    + "\(String(file.crc32c, radix: 16)); the file is damaged", concernsFile: true))
            return false
        }
        return true
    }
}

/// A CRC-32C extended piece by piece on one serial queue (the only place it changes), read after that queue drains.
private final class RunningChecksum: Sendable {
    private let crc = Mutex<UInt32>(0)
    var value: UInt32 { self.crc.withLock { $0 } }
    func extend(_ bytes: [UInt8]) { self.crc.withLock { crc in crc = bytes.withUnsafeBytes { HardwareCRC32C.extend(crc, $0) } } }
}
