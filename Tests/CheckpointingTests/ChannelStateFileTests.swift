import Checkpointing
import Testing

/// The channel-state format: round trip, and a clean `CheckpointError` (never a crash) for every truncation,
/// flipped byte and a newer version.
@Suite struct ChannelStateFileTests {
    let file = ChannelStateFile(
        vertex: "count", subtask: 1, checkpointID: 7,
        buffers: [.init(channel: 0, bytes: Array(0..<200)), .init(channel: 3, bytes: [9, 8, 7]), .init(channel: 1, bytes: [])])

    @Test func roundTrips() throws {
        let decoded = try ChannelStateFile.decode(self.file.encoded(), path: "chk-7/channels-count-1.wchs")
        #expect(decoded == self.file)
        #expect(decoded.dataBytes == 203)
    }

    @Test func everyTruncationAndEveryFlippedByteIsACleanError() {
        let bytes = self.file.encoded()
        for length in 0..<bytes.count {
            #expect(throws: CheckpointError.self) { try ChannelStateFile.decode(Array(bytes[..<length]), path: "x.wchs") }
        }
        for index in bytes.indices {
            var damaged = bytes
            damaged[index] ^= 0x40
            do {
                _ = try ChannelStateFile.decode(damaged, path: "x.wchs")
                Issue.record("flipping byte \(index) went unnoticed")
            } catch {
                #expect(error.path == "x.wchs")
                #expect(error.code == .corrupt || error.code == .unsupportedVersion)
            }
        }
    }

    @Test func aNewerVersionSaysToUpgrade() throws {
        var bytes = self.file.encoded()
        bytes[9] = 2
        let error = try #require(throws: CheckpointError.self) { try ChannelStateFile.decode(bytes, path: "x.wchs") }
        #expect(error.code == .unsupportedVersion)
        #expect(error.message.contains("version 2"))
    }
}
