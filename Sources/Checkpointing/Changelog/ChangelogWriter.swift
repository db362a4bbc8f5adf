import KeyedState
import StateCore

/// One backend's changelog: numbers each applied change with the next SQN, buffers the records, hands full
/// buffers to the uploader ahead of time, and at a checkpoint persists the tail and lists the sections covering
/// `[materialization SQN, next SQN)`.
///
/// Used on the backend's owner thread only. A section whose upload failed (a full disk) is kept and uploaded
/// again at the next `persist`, so no change is ever missing from the log. A section whose upload finished is
/// let go at the next seal, not only at a checkpoint: the records stay in memory about one upload long, however
/// many changes come between two checkpoints (a bulk load of 10 M keys writes 1.3 GB of changelog).
///
/// The writer is the backend's change sink: each change is encoded straight into the open buffer, and past
/// `persistThreshold` bytes the buffer is sealed into a section and queued on the root's `ChangelogUploader`
/// (group commit: the backends of a process share segment files). At a checkpoint the writer seals the tail and
/// writes what is queued on its own thread (`ChangelogUploader.writeQueued`: no hand-over to the upload thread and
/// back), then waits for the sections still in flight: the only blocking is the tail's write and fsync. What is
/// held shows as `bytesInMemory`; before sections were collected at each seal, a 10 M-key bulk load held its whole
/// changelog until the next checkpoint, whose free of it then returned the heap to the kernel inside that
/// checkpoint.
final class ChangelogWriter: StateChangeSink {
    let backendID: String
    private let uploader: ChangelogUploader
    private let threshold: Int
    /// The SQN the next change gets.
    private(set) var nextSQN: UInt64
    private var buffer = ByteWriter(capacity: 64 << 10)
    private var bufferFirstSQN: UInt64
    private var bufferCount = 0
    private var inFlight: [(section: ChangelogSegment.Section, ticket: ChangelogUploader.Ticket)] = []
    /// Buffers of sections whose upload finished, for the next seals to write into. A fresh buffer per section
    /// fragments the heap: small allocations that live on (section handles) land in each freed megabyte, the next
    /// buffer no longer fits there, and a 10 M-key load grew the heap by 1 GB that glibc then handed back to the
    /// kernel inside a later checkpoint.
    private var spare: [[UInt8]] = []
    /// Durable sections not below the current materialization, in SQN order.
    private(set) var sections: [ChangelogSectionHandle] = []
    /// Files of sections taken over since the last `takeUnsettled` (their pins are released with the live set).
    private var unsettled: [String] = []

    init(backendID: String, uploader: ChangelogUploader, threshold: Int, nextSQN: UInt64,
         sections: [ChangelogSectionHandle]) {
        self.backendID = backendID
        self.uploader = uploader
        self.threshold = max(threshold, 1)
        self.nextSQN = nextSQN
        self.bufferFirstSQN = nextSQN
        self.sections = sections
    }

    func stateChanged(_ kind: StateChangeKind, column: Int, key: [UInt8], primaryLength: Int, value: [UInt8]) {
        ChangelogSegment.appendRecord(
            kind.rawValue, column: column, key: key, primaryLength: primaryLength, value: value, to: &self.buffer)
        self.nextSQN += 1
        self.bufferCount += 1
        if self.buffer.count >= self.threshold { self.seal() }
    }

    /// Hands the buffered records to the uploader as one section.
    private func seal() {
        guard self.bufferCount > 0 else { return }
        let section = ChangelogSegment.Section(
            backendID: self.backendID, firstSQN: self.bufferFirstSQN, count: self.bufferCount,
            payload: self.buffer.take(continuingIn: self.spare.popLast() ?? self.freshBuffer()))
        self.inFlight.append((section, self.uploader.upload(section)))
        self.bufferFirstSQN = self.nextSQN
        self.bufferCount = 0
        self.collectFinished()
    }

    /// A buffer with room for a section (the threshold and one more record of up to an eighth of it).
    private func freshBuffer() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(self.threshold + self.threshold / 8)
        return buffer
    }

    /// Bytes of records held in memory: the open buffer and the sections not yet collected after their upload.
    var bytesInMemory: Int { self.buffer.count + self.inFlight.reduce(0) { $0 + $1.section.payload.count } }

    /// Collects sections whose upload finished (without waiting); returns true when none is left in flight.
    @discardableResult
    func collectFinished() -> Bool {
        while let first = self.inFlight.first, let result = first.ticket.current {
            guard case .success(let handle) = result else { break }
            self.sections.append(handle)
            self.unsettled.append(handle.file.path)
            var done = self.inFlight.removeFirst()
            if self.spare.count < 2 {
                let payload = done.section.payload
                done.section.payload = []  // the buffer's last reference is `payload`: reused in place
                self.spare.append(payload)
            }
        }
        return self.inFlight.isEmpty
    }

    /// Persists the tail and waits for every section in flight; returns the sections covering
    /// `[from, nextSQN)`.
    /// - Throws: the upload failure (the failed sections stay queued for the next call).
    func persist(from sqn: UInt64) throws(CheckpointError) -> [ChangelogSectionHandle] {
        self.seal()
        self.uploader.writeQueued()
        var failure: CheckpointError?
        for index in self.inFlight.indices {
            guard case .failure = self.inFlight[index].ticket.wait() else { continue }
            // A failed upload (say, a full disk earlier) is tried once more now; if it fails again the
            // checkpoint fails and the section stays queued.
            self.inFlight[index].ticket = self.uploader.upload(self.inFlight[index].section)
            if case .failure(let error) = self.inFlight[index].ticket.wait() { failure = failure ?? error }
        }
        if let failure {
            throw CheckpointError(
                code: failure.code,
                message: "persisting the changelog of '\(self.backendID)' failed: \(failure.message)",
                path: failure.path, sqn: self.inFlight.first?.section.firstSQN, cause: failure)
        }
        self.collectFinished()
        self.truncate(below: sqn)
        return self.sections
    }

    /// Waits for the uploads in flight (at close): afterwards every file this writer caused is either in
    /// `sections` or settled through `takeUnsettled`.
    func waitForUploads() {
        for (_, ticket) in self.inFlight { _ = ticket.wait() }
        self.collectFinished()
        for (_, ticket) in self.inFlight {
            if case .success(let handle)? = ticket.current { self.unsettled.append(handle.file.path) }
        }
        self.inFlight.removeAll()
    }

    /// Forgets sections wholly below `sqn` (a materialization at `sqn` covers them).
    func truncate(below sqn: UInt64) {
        self.sections.removeAll { $0.endSQN <= sqn }
        if self.bufferCount > 0 && self.nextSQN <= sqn {
            // Every buffered record is below the materialization: nobody will need it.
            self.buffer.removeAll()
            self.bufferFirstSQN = self.nextSQN
            self.bufferCount = 0
        }
    }

    /// The files whose pins the owner must release with its next live set.
    func takeUnsettled() -> [String] {
        defer { self.unsettled.removeAll() }
        return self.unsettled
    }

    /// The files of the sections still needed.
    var livePaths: Set<String> { Set(self.sections.map(\.file.path)) }
}
