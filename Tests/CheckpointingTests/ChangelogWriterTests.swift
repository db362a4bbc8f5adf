@testable import Checkpointing
import KeyedState
import StateCore
import Testing

/// The changelog writer between checkpoints: what it keeps in memory, and that the log it lists stays whole.
@Suite struct ChangelogWriterTests {
    /// Writes `records` puts of a 100-byte value.
    private func write(_ records: Range<Int>, to writer: ChangelogWriter) {
        for index in records {
            let key = withUnsafeBytes(of: UInt64(index).bigEndian) { Array($0) }
            writer.stateChanged(.put, column: 1, key: key, primaryLength: 8, value: Array(repeating: UInt8(index & 0xFF), count: 100))
        }
    }

    /// Many sections sealed with no checkpoint in between (a bulk load) must not stay in memory once uploaded:
    /// before, the writer let them go only at the next `persist`, holding a whole load's changelog. Their
    /// buffers are reused for the next sections, and no record is damaged by that.
    @Test func uploadedSectionsLeaveMemoryBeforeTheNextCheckpoint() throws {
        let scratch = Scratch()
        let storage = try CheckpointStorage(root: scratch.root)
        defer { storage.close() }
        let threshold = 4_096
        let writer = ChangelogWriter(
            backendID: "op/0", uploader: storage.changelogUploader, threshold: threshold, nextSQN: 0, sections: [])
        self.write(0..<5_000, to: writer)  // ~570 KB: well over 100 sections
        storage.changelogUploader.drain()
        self.write(5_000..<5_040, to: writer)  // seals once more, collecting what the drain finished
        #expect(writer.bytesInMemory <= 2 * threshold)

        // The log is still whole, though buffers were reused: the sections cover [0, 5,040) without a gap, and
        // every record reads back as written.
        let sections = try writer.persist(from: 0)
        #expect(sections.count > 100)
        var next: UInt64 = 0
        for section in sections {
            #expect(section.firstSQN == next)
            let path = scratch.root + "/" + section.file.path
            var bytes: [UInt8] = []
            try LocalFileSystem().read(path, offset: section.offset, count: section.length, into: &bytes)
            try ChangelogSegment.records(ofSection: bytes, handle: section, backendID: "op/0", path: path) { record in
                #expect(record.sqn == next)
                #expect(record.key == withUnsafeBytes(of: next.bigEndian) { Array($0) })
                #expect(record.value == Array(repeating: UInt8(next & 0xFF), count: 100))
                next += 1
            }
            #expect(next == section.endSQN)
        }
        #expect(next == 5_040)
        #expect(writer.bytesInMemory == 0)
    }
}
