import Foundation
@testable import Runtime
import Synchronization
import Testing

/// The input gate's flow control, with real threads.
@Suite struct InputGateTests {
    private func take(_ gate: InputGate) -> Int? {
        if case .element(let channel, _, _) = gate.next(blocked: [], deadline: RuntimeClock.now + .seconds(1), overtake: { _ in false }) {
            return channel
        }
        return nil
    }

    @Test func aBlockedProducerResumesOnlyOnceItsChannelDrainedToHalf() throws {
        let gate = InputGate(channels: 1, capacity: 4, bufferSize: 1024)
        #expect(gate.resumeAt == 2)
        for _ in 0..<4 { #expect(gate.push(.buffer([1]), channel: 0).queued) }
        let flag = Flag()
        let producer = Thread {
            _ = gate.push(.buffer([2]), channel: 0)
            flag.pushed.store(true, ordering: .sequentiallyConsistent)
        }
        producer.start()
        Thread.sleep(forTimeInterval: 0.05)
        #expect(!flag.isSet, "the channel is full")
        #expect(self.take(gate) == 0)
        Thread.sleep(forTimeInterval: 0.05)
        #expect(!flag.isSet, "3 of 4 queued: not yet drained to 2")
        #expect(gate.queuedBuffers == 3)
        #expect(self.take(gate) == 0)
        let deadline = Date(timeIntervalSinceNow: 10)
        while !flag.isSet && Date() < deadline { Thread.sleep(forTimeInterval: 0.001) }
        #expect(flag.isSet, "drained to 2: the producer sends again")
        #expect(gate.queuedBuffers == 3)
    }
}

/// Set by the producer thread once its push returned.
private final class Flag: Sendable {
    let pushed = Atomic<Bool>(false)
    var isSet: Bool { self.pushed.load(ordering: .sequentiallyConsistent) }
}
