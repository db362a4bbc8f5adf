import Runtime
import Testing

/// Buffer debloating as a pure state machine: bytes taken in and time waited, buffer sizes out.
@Suite struct BufferDebloaterTests {
    let settings = BufferDebloating(target: .milliseconds(30), minimumBufferSize: 1024, period: .milliseconds(100), smoothing: 0.3, threshold: 0.1)

    /// Two channels × (capacity 4 + 1 partly filled) = 10 buffers in flight, 32 KiB at most.
    func debloater() -> BufferDebloater {
        BufferDebloater(configuration: self.settings, channels: 2, capacity: 4, maximumBufferSize: 32 * 1024, now: .zero)
    }

    @Test func aTaskTakingInTwoMegabytesASecondGetsBuffersOfThirtyMillisecondsOverTenBuffers() {
        var debloater = self.debloater()
        #expect(debloater.bufferSize == 32 * 1024)
        #expect(debloater.tick(now: .milliseconds(50)) == nil, "the period is not over")
        debloater.consumed(200_000)
        // 200 kB in 100 ms busy = 2 MB/s; 30 ms of that is 60 kB over 10 buffers.
        #expect(debloater.tick(now: .milliseconds(100)) == 6_000)
        #expect(debloater.bufferSize == 6_000)
        debloater.consumed(200_000)
        #expect(debloater.tick(now: .milliseconds(200)) == nil, "the same throughput changes nothing")
    }

    @Test func timeWaitingForInputDoesNotCountAsSlow() {
        var busy = self.debloater()
        busy.consumed(200_000)
        var halfIdle = self.debloater()
        halfIdle.consumed(100_000)
        halfIdle.idle(.milliseconds(50))
        #expect(busy.tick(now: .milliseconds(100)) == 6_000)
        #expect(halfIdle.tick(now: .milliseconds(100)) == 6_000, "100 kB in 50 ms busy is the same 2 MB/s")
        var idle = self.debloater()
        idle.consumed(1_000)
        idle.idle(.milliseconds(95))
        #expect(idle.tick(now: .milliseconds(100)) == nil, "a period spent almost all waiting measures nothing")
        #expect(idle.bufferSize == 32 * 1024)
    }

    @Test func sizesStayWithinTheMinimumAndTheConfiguredBufferSize() {
        var slow = self.debloater()
        slow.consumed(1_000)
        #expect(slow.tick(now: .milliseconds(100)) == 1024, "10 kB/s asks for 30 B buffers: the minimum")
        var fast = self.debloater()
        fast.consumed(50_000_000)
        #expect(fast.tick(now: .milliseconds(100)) == nil, "500 MB/s asks for more than 32 KiB: stays at the maximum")
        #expect(fast.bufferSize == 32 * 1024)
    }

    @Test func theThroughputIsSmoothedAndSmallChangesAreNotApplied() {
        var debloater = self.debloater()
        debloater.consumed(200_000)
        #expect(debloater.tick(now: .milliseconds(100)) == 6_000)
        // A period at twice the rate moves the smoothed throughput 30 % of the way: 2.6 MB/s, 7,800 B buffers.
        debloater.consumed(400_000)
        #expect(debloater.tick(now: .milliseconds(200)) == 7_800)
        // A period at 2.99 MB/s moves it to 2.717 MB/s, 8,151 B: 4.5 %, under the 10 % threshold, not applied.
        debloater.consumed(299_000)
        #expect(debloater.tick(now: .milliseconds(300)) == nil)
        #expect(debloater.bufferSize == 7_800)
    }
}
