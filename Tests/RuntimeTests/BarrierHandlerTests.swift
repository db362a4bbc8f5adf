import Runtime
import Testing

/// The barrier handling as a pure state machine: events in, actions out.
@Suite struct BarrierHandlerTests {
    let t0 = Duration.zero

    @Test func alignedBlocksEachChannelUntilTheLastBarrierThenSnapshotsAndForwards() {
        var handler = BarrierHandler(inputs: 3, mode: .aligned)
        #expect(handler.barrier(checkpointID: 1, channel: 0, triggeredAt: t0, now: t0) == [.block(channel: 0)])
        #expect(handler.isAligning)
        #expect(handler.buffer(channel: 1) == (false, []))
        #expect(handler.barrier(checkpointID: 1, channel: 2, triggeredAt: t0, now: t0) == [.block(channel: 2)])
        #expect(handler.barrier(checkpointID: 1, channel: 1, triggeredAt: t0, now: t0) == [
            .snapshot(checkpointID: 1, unaligned: false), .forward(checkpointID: 1), .unblockAll, .finish(checkpointID: 1),
        ])
        #expect(handler.pendingCheckpointID == nil)
        #expect(!handler.mayOvertake(checkpointID: 2, triggeredAt: t0, now: .seconds(10)))
    }

    @Test func singleInputAlignedCompletesAtOnceWithoutBlocking() {
        var handler = BarrierHandler(inputs: 1, mode: .aligned)
        let actions = handler.barrier(checkpointID: 4, channel: 0, triggeredAt: t0, now: t0)
        #expect(!actions.contains(.block(channel: 0)))
        #expect(actions.first == .snapshot(checkpointID: 4, unaligned: false))
        #expect(actions.last == .finish(checkpointID: 4))
    }

    @Test func unalignedForwardsAndSnapshotsAtTheFirstBarrierAndRecordsOtherChannelsUntilTheirBarrier() {
        var handler = BarrierHandler(inputs: 2, mode: .unaligned)
        #expect(handler.mayOvertake(checkpointID: 1, triggeredAt: t0, now: t0))
        // The barrier on channel 0 overtook 2 buffers: those are persisted at once, and channel 1's data is
        // recorded until its barrier.
        #expect(handler.barrier(checkpointID: 1, channel: 0, overtaken: 2, triggeredAt: t0, now: t0) == [
            .forward(checkpointID: 1), .snapshot(checkpointID: 1, unaligned: true), .persistOvertaken(channel: 0),
        ])
        #expect(handler.buffer(channel: 1) == (true, []))
        #expect(handler.buffer(channel: 0) == (false, []), "the overtaken buffers were persisted already")
        #expect(handler.barrier(checkpointID: 1, channel: 1, triggeredAt: t0, now: t0) == [.finish(checkpointID: 1)])
        #expect(handler.buffer(channel: 1) == (false, []))
    }

    @Test func unalignedSingleInputFinishesAtOnceWithTheOvertakenBuffersPersisted() {
        var handler = BarrierHandler(inputs: 1, mode: .unaligned)
        #expect(handler.barrier(checkpointID: 1, channel: 0, overtaken: 3, triggeredAt: t0, now: t0) == [
            .forward(checkpointID: 1), .snapshot(checkpointID: 1, unaligned: true), .persistOvertaken(channel: 0),
            .finish(checkpointID: 1),
        ])
        #expect(handler.buffer(channel: 0) == (false, []))
    }

    @Test func alignmentTimeoutSwitchesToUnalignedOnTheClockAndUnblocks() {
        var handler = BarrierHandler(inputs: 2, mode: .alignmentTimeout(.milliseconds(50)))
        #expect(!handler.mayOvertake(checkpointID: 1, triggeredAt: t0, now: .milliseconds(10)))
        #expect(handler.barrier(checkpointID: 1, channel: 0, triggeredAt: t0, now: .milliseconds(10)) == [.block(channel: 0)])
        #expect(handler.tick(now: .milliseconds(40)) == [])
        #expect(handler.tick(now: .milliseconds(60)) == [
            .forward(checkpointID: 1), .snapshot(checkpointID: 1, unaligned: true), .unblockAll,
        ])
        #expect(handler.buffer(channel: 1) == (true, []))
        #expect(handler.buffer(channel: 0) == (false, []))
        #expect(handler.mayOvertake(checkpointID: 1, triggeredAt: t0, now: .milliseconds(60)))
        #expect(handler.barrier(checkpointID: 1, channel: 1, overtaken: 1, triggeredAt: t0, now: .milliseconds(61)) == [
            .persistOvertaken(channel: 1), .finish(checkpointID: 1),
        ])
    }

    @Test func anOldCheckpointAtTheTimeoutStartsUnaligned() {
        var handler = BarrierHandler(inputs: 2, mode: .alignmentTimeout(.milliseconds(50)))
        #expect(handler.barrier(checkpointID: 1, channel: 0, triggeredAt: t0, now: .milliseconds(80)) == [
            .forward(checkpointID: 1), .snapshot(checkpointID: 1, unaligned: true),
        ])
    }

    @Test func aNewerBarrierAbortsThePendingCheckpointAndStaleBarriersAreIgnored() {
        var handler = BarrierHandler(inputs: 2, mode: .aligned)
        _ = handler.barrier(checkpointID: 1, channel: 0, triggeredAt: t0, now: t0)
        #expect(handler.barrier(checkpointID: 2, channel: 1, triggeredAt: t0, now: t0) == [
            .unblockAll, .abort(checkpointID: 1), .block(channel: 1),
        ])
        #expect(handler.barrier(checkpointID: 1, channel: 0, triggeredAt: t0, now: t0) == [], "stale")
        #expect(handler.pendingCheckpointID == 2)
    }

    @Test func coordinatorAbortUnblocksAndLaterBarriersOfThatCheckpointAreIgnored() {
        var handler = BarrierHandler(inputs: 2, mode: .aligned)
        _ = handler.barrier(checkpointID: 3, channel: 0, triggeredAt: t0, now: t0)
        #expect(handler.abort(checkpointID: 3) == [.unblockAll, .abort(checkpointID: 3)])
        #expect(handler.barrier(checkpointID: 3, channel: 1, triggeredAt: t0, now: t0) == [])
        #expect(handler.abort(checkpointID: 4) == [])
        #expect(handler.barrier(checkpointID: 4, channel: 1, triggeredAt: t0, now: t0) == [], "aborted before it arrived")
    }

    @Test func anEndedChannelCountsAsAligned() {
        var handler = BarrierHandler(inputs: 2, mode: .aligned)
        #expect(handler.endOfInput(channel: 1) == [])
        let actions = handler.barrier(checkpointID: 1, channel: 0, triggeredAt: t0, now: t0)
        #expect(actions.contains(.snapshot(checkpointID: 1, unaligned: false)) && actions.last == .finish(checkpointID: 1))
        var other = BarrierHandler(inputs: 2, mode: .unaligned)
        _ = other.barrier(checkpointID: 1, channel: 0, triggeredAt: t0, now: t0)
        #expect(other.endOfInput(channel: 1) == [.finish(checkpointID: 1)])
    }

    /// Seeded random event sequences: snapshot exactly once before finish, never two pending, blocked channels
    /// only while aligning.
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func randomSchedulesKeepTheInvariants(seed: UInt64) {
        var random = SplitMix(seed)
        for mode in [AlignmentMode.aligned, .unaligned, .alignmentTimeout(.milliseconds(20))] {
            var handler = BarrierHandler(inputs: 3, mode: mode)
            var now = Duration.zero
            var snapshots: [Int64: Int] = [:]
            var finished: Set<Int64> = []
            var blocked: Set<Int> = []
            var id: Int64 = 1
            var delivered: Set<Int> = []
            for _ in 0..<400 {
                now += .milliseconds(Int64(random.next() % 5))
                var actions: [BarrierHandler.Action] = []
                switch random.next() % 4 {
                case 0:
                    let channel = Int(random.next() % 3)
                    if blocked.contains(channel) || delivered.contains(channel) { continue }
                    delivered.insert(channel)
                    actions = handler.barrier(checkpointID: id, channel: channel, overtaken: mode == .aligned ? 0 : Int(random.next() % 2), triggeredAt: now, now: now)
                    if delivered.count == 3 {
                        delivered = []
                        id += 1
                    }
                case 1:
                    let channel = Int(random.next() % 3)
                    if blocked.contains(channel) { continue }
                    actions = handler.buffer(channel: channel).actions
                case 2:
                    actions = handler.tick(now: now)
                default:
                    continue
                }
                for action in actions {
                    switch action {
                    case .block(let channel): blocked.insert(channel)
                    case .unblockAll: blocked = []
                    case .snapshot(let checkpoint, _): snapshots[checkpoint, default: 0] += 1
                    case .finish(let checkpoint):
                        #expect(snapshots[checkpoint] == 1, "finish of \(checkpoint) without exactly one snapshot")
                        finished.insert(checkpoint)
                    case .forward, .abort, .persistOvertaken: break
                    }
                }
                if handler.pendingCheckpointID == nil { #expect(blocked.isEmpty, "channels left blocked with nothing pending") }
            }
            #expect(snapshots.values.allSatisfy { $0 == 1 })
            #expect(!finished.isEmpty)
        }
    }
}

/// A tiny seeded generator for schedules.
struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
