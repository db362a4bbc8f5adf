import RocksKit
import StateCore
import Synchronization

/// Writes changelog sections to segment files in `shared/`, on its own thread, grouping every section queued
/// while the previous file was written into one file: several backends of a process share segment files, and a
/// busy process writes fewer, larger files.
final class ChangelogUploader: Sendable {
    typealias Ticket = Promise<Result<ChangelogSectionHandle, CheckpointError>>

    private unowned let storage: CheckpointStorage
    private let worker = WorkerThread(name: "weir-changelog-upload")
    private let queue = Mutex<[(ChangelogSegment.Section, Ticket)]>([])

    init(storage: CheckpointStorage) { self.storage = storage }

    /// Queues a section; the ticket resolves once its file is durable.
    func upload(_ section: ChangelogSegment.Section) -> Ticket {
        let ticket = Ticket()
        let first = self.queue.withLock { queue -> Bool in
            queue.append((section, ticket))
            return queue.count == 1
        }
        if first { self.worker.submit { [self] in self.writeQueued() } }
        return ticket
    }

    /// Writes every queued section into one segment file, on the calling thread: the upload thread's job, and a
    /// checkpoint's for its tail (it waits for the file anyway, and a hand-over to the upload thread and back
    /// costs two wake-ups, each of which can wait for a core behind RocksDB's compactions). Sections another
    /// call is writing already are left to it.
    func writeQueued() {
        var queued = self.queue.withLock { queue -> [(ChangelogSegment.Section, Ticket)] in
            defer { queue.removeAll() }
            return queue
        }
        guard !queued.isEmpty else { return }
        let (bytes, ranges) = ChangelogSegment.encode(queued.map(\.0))
        // The sections' buffers are not needed past the encoding: the writer reuses each once it sees the ticket.
        let batch = queued.map { (firstSQN: $0.0.firstSQN, count: $0.0.count, ticket: $0.1) }
        queued.removeAll()
        // One pin per section: each backend settles its own when it takes the section over.
        let (relative, absolute) = self.storage.newSharedFile(suffix: "changelog.wcl", pins: batch.count)
        let fileSystem = self.storage.fileSystem
        do throws(CheckpointError) {
            if CrashPoint.isArmed(.midSegmentWrite) {
                try fileSystem.write(Array(bytes.prefix(bytes.count / 2)), to: absolute, sync: true)
                CrashPoint.hit(.midSegmentWrite)
            }
            try fileSystem.write(bytes, to: absolute, sync: true)
            try fileSystem.syncDirectory(self.storage.root + "/shared")
            let file = StoredFile(path: relative, size: bytes.count, crc32c: HardwareCRC32C.checksum(bytes))
            for (section, range) in zip(batch, ranges) {
                section.ticket.fulfill(.success(ChangelogSectionHandle(
                    file: file, offset: range.offset, length: range.length, firstSQN: section.firstSQN,
                    count: section.count)))
            }
            CrashPoint.hit(.afterSegmentBeforeMetadata)
        } catch {
            self.storage.discard(Array(repeating: relative, count: batch.count))
            for section in batch { section.ticket.fulfill(.failure(error)) }
        }
    }

    /// Blocks until every section queued so far is written (or failed).
    func drain() { self.worker.drain() }

    /// Waits for queued writes and ends the thread.
    func stop() { self.worker.stop() }
}
