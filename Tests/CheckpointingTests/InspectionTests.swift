import Checkpointing
import Foundation
import Inspection
import KeyedState
import StateCore
import StateTestSupport
import Testing

/// The inspection library reads roots without a job, and reports damage as problems, never traps.
@Suite struct InspectionTests {
    /// A root with checkpoints 1 and 2 (retained 2), a materialization between them, and an aborted folder.
    @discardableResult
    private func root(_ scratch: Scratch) throws -> (atOne: CheckpointWorkload.Model, atTwo: CheckpointWorkload.Model) {
        let models = try scratch.seededRoot()
        try LocalFileSystem().createDirectory(scratch.root + "/chk-3")
        return models
    }

    /// `dump` decodes every state kind and, with `atSQN`, shows the state as it was at the materialization.
    @Test func dumpMatchesTheModel() throws {
        let scratch = Scratch()
        let (atOne, atTwo) = try self.root(scratch)
        let inspector = try CheckpointInspector(root: scratch.root)
        let metadata = try inspector.metadata(2)
        func dump(_ state: String, at sqn: UInt64? = nil) throws -> [DumpEntry] {
            var entries: [DumpEntry] = []
            try inspector.dump(metadata, DumpRequest(state: state, atSQN: sqn, scratchDirectory: scratch.work + "-dump")) {
                entries.append($0)
                return true
            }
            return entries
        }
        let counts = Dictionary(uniqueKeysWithValues: try dump("count").map { (Int64($0.key)!, Int64($0.value)!) })
        #expect(counts == atTwo.values)
        let lists = try dump("events").map { "\($0.key)=\($0.value)" }.sorted()
        #expect(lists == atTwo.lists.map { "\($0.key)=[\($0.value.map(String.init).joined(separator: ","))]" }.sorted())
        let tags = try dump("tags")
        #expect(tags.count == atTwo.maps.values.reduce(0) { $0 + $1.count })
        #expect(tags.allSatisfy { atTwo.maps[Int64($0.key)!]?[Int64($0.userKey!)!].map { "\"\($0)\"" } == $0.value })
        let materializedSQN = try #require(metadata.backends.first?.materialization?.sqn)
        let before = Dictionary(uniqueKeysWithValues: try dump("count", at: materializedSQN).map { (Int64($0.key)!, Int64($0.value)!) })
        #expect(before == atOne.values)
        #expect(throws: CheckpointError.self) { _ = try dump("missing-state") }
        #expect(throws: CheckpointError.self) { _ = try dump("count", at: 0) }
    }

    @Test func listsVerifiesAndReadsTheChangelog() throws {
        let scratch = Scratch()
        try self.root(scratch)
        let inspector = try CheckpointInspector(root: scratch.root)
        let entries = try inspector.entries()
        #expect(entries.map(\.id) == [1, 2, 3])
        #expect(entries.map(\.status) == [.completed, .completed, .incomplete])
        #expect(entries[1].incrementalBytes > 0 && entries[1].incrementalBytes <= entries[1].totalBytes)
        let report = try inspector.verify()
        #expect(report.isClean, "\(report.problems)")
        #expect(report.checkpoints == [1, 2] && report.incomplete == ["chk-3"] && report.orphans.isEmpty)
        let metadata = try inspector.metadata(2)
        let handle = try #require(metadata.backends.first)
        var sqns: [UInt64] = []
        try inspector.changelog(of: metadata) { sqns.append($0.sqn) }
        #expect(sqns == Array((handle.materialization?.sqn ?? 0)..<handle.sqn))
    }

    @Test func damageBecomesProblemsNamingTheFile() throws {
        let scratch = Scratch()
        try self.root(scratch)
        let fs = LocalFileSystem()
        let metadata = try CheckpointInspector(root: scratch.root).metadata(2)
        let handle = try #require(metadata.backends.first)
        let sst = try #require(handle.materialization?.files.first { $0.path.hasSuffix(".sst") })
        var bytes = try fs.read(scratch.root + "/" + sst.path)
        bytes[bytes.count / 2] ^= 1
        try fs.write(bytes, to: scratch.root + "/" + sst.path, sync: false)
        let segment = try #require(handle.changelog.first)
        try fs.write(Array(try fs.read(scratch.root + "/" + segment.file.path).prefix(30)),
                     to: scratch.root + "/" + segment.file.path, sync: false)
        try fs.write([1, 2, 3], to: scratch.root + "/shared/stray.sst", sync: false)
        var damagedMetadata = try fs.read(scratch.root + "/chk-1/_metadata")
        damagedMetadata[20] ^= 0x20
        try fs.write(damagedMetadata, to: scratch.root + "/chk-1/_metadata", sync: false)

        let report = try CheckpointInspector(root: scratch.root).verify()
        #expect(!report.isClean)
        #expect(report.problems.contains { $0.path == sst.path && $0.message.contains("CRC-32C") })
        #expect(report.problems.contains { $0.path == segment.file.path })
        #expect(report.problems.contains { $0.checkpointID == 1 && $0.message.contains("checksum") })
        #expect(report.orphans.contains("shared/stray.sst"))
    }

    @Test func truncatedAndMutatedMetadataNeverTraps() throws {
        let scratch = Scratch()
        try self.root(scratch)
        let path = scratch.root + "/chk-2/_metadata"
        let original = try LocalFileSystem().read(path)
        var generator = SeededGenerator(seed: 5)
        for round in 0..<60 {
            var bytes = original
            if round % 3 == 0 {
                bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &generator)))
            } else {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator)
            }
            #expect(throws: CheckpointError.self) { _ = try CheckpointMetadata.decode(bytes, path: path) }
        }
    }

    @Test func cliExitCodes() throws {
        let scratch = Scratch()
        try self.root(scratch)
        let weir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path + "/weir"
        func run(_ arguments: [String]) throws -> (Int32, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: weir)
            process.arguments = arguments
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, text)
        }
        try #require(FileManager.default.isExecutableFile(atPath: weir), "swift test builds the weir executable beside the tests")
        #expect(try run(["verify", scratch.root]).0 == 0)
        let diff = try run(["diff", scratch.root + "/chk-1", scratch.root + "/chk-2", "--json", "--state", "count"])
        #expect(diff.0 == 0 && diff.1.contains("\"state\":\"count\"") && diff.1.contains("\"changed\":"))
        let dump = try run(["dump", scratch.root + "/chk-2", "--state", "count", "--limit", "2", "--json"])
        #expect(dump.0 == 0 && dump.1.split(separator: "\n").count == 2)
        #expect(try run(["show", scratch.root + "/chk-2", "--json"]).1.contains("\"checkpointID\":2"))
        let missing = try run(["show", scratch.root + "/chk-9"])
        #expect(missing.0 == 74 && missing.1.hasPrefix("error: "))
        #expect(try run(["changelog", scratch.root + "/chk-2", "--from-sqn", "5", "--to-sqn", "1"]).0 == 64)
        try LocalFileSystem().write([0], to: scratch.root + "/chk-2/_metadata", sync: false)
        #expect(try run(["verify", scratch.root]).0 == 1)
    }
}
