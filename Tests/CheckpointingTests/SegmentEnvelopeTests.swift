import Checkpointing
import Foundation
import Inspection
import KeyedState
import StateCore
import StateTestSupport
import Testing

/// Every reader of changelog segments checks the envelope (magic, version, header checksum) of each file it reads
/// sections from: a segment of a newer format version, with its checksums repaired, is refused by restore,
/// verify, dump and the changelog reader (before: all four read straight to the section and accepted it).
@Suite struct SegmentEnvelopeTests {
    @Test(arguments: ["newer version", "wrong magic", "header checksum"])
    func aDamagedEnvelopeIsRefusedByEveryReader(damage: String) throws {
        let scratch = Scratch()
        let storage = try CheckpointStorage(root: scratch.root)
        let backend = try scratch.open(Setup.all[0], storage: storage)
        let states = try CheckpointWorkload.register(backend.state)
        var workload = CheckpointWorkload(seed: 12)
        for _ in 0..<200 { try workload.step(states) }
        try backend.checkpoint(1)
        try backend.close()
        storage.close()
        let original = try CheckpointInspector(root: scratch.root).metadata(1)
        let segment = try #require(original.backends.first?.changelog.first?.file.path)
        let path = "\(scratch.root)/\(segment)"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        switch damage {
        case "newer version": bytes[9] = 2
        case "wrong magic": bytes[0] = UInt8(ascii: "X")
        default: bytes[12] ^= 0xFF
        }
        if damage != "header checksum" {
            withUnsafeBytes(of: CRC32C.checksum(bytes[0..<16]).bigEndian) { bytes.replaceSubrange(16..<20, with: $0) }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        // The whole file's checksum in the metadata repaired too: only the envelope tells.
        var repaired = original
        for backend in repaired.backends.indices {
            for section in repaired.backends[backend].changelog.indices where repaired.backends[backend].changelog[section].file.path == segment {
                repaired.backends[backend].changelog[section].file.crc32c = CRC32C.checksum(bytes)
            }
        }
        try Data(repaired.encoded()).write(to: URL(fileURLWithPath: "\(scratch.root)/chk-1/_metadata"))
        let code: CheckpointError.Code = damage == "newer version" ? .unsupportedVersion : .corrupt
        func expectRefusal(_ what: String, _ body: () throws -> Void) {
            do {
                try body()
                Issue.record("\(damage): \(what) accepted the segment")
            } catch let error as CheckpointError {
                #expect(error.code == code && error.message.contains(path), "\(what): \(error.message)")
            } catch {
                Issue.record("\(what): \(error)")
            }
        }
        expectRefusal("restore") {
            let storage = try CheckpointStorage(root: scratch.root)
            defer { storage.close() }
            _ = try scratch.open(Setup.all[0], storage: storage, restore: .latest, work: scratch.work + "-2")
        }
        let inspector = try CheckpointInspector(root: scratch.root)
        let metadata = try inspector.metadata(1)
        expectRefusal("dump") {
            try inspector.dump(metadata, DumpRequest(state: "count", scratchDirectory: scratch.directory.appending("dump"))) { _ in true }
        }
        expectRefusal("changelog") { try inspector.changelog(of: metadata) { _ in } }
        let report = try inspector.verify()
        #expect(report.problems.contains { $0.message.contains(path) && $0.path == segment }, "verify: \(report.problems)")
    }
}
