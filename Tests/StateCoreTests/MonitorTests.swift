import Foundation
import StateCore
import Synchronization
import Testing

/// The monitor the runtime's channels and coordinator sleep on: no lost wake-up, deadlines kept, and changes
/// made under `withLock` seen by the waiter's next step.
@Suite struct MonitorTests {
    /// A bounded queue on the monitor, as the channels use it.
    struct Queue: Sendable {
        var items: [Int] = []
        var closed = false
    }

    @Test func aConsumerSeesEveryItemOfManyProducersInOrderPerProducer() {
        let monitor = Monitor(Queue(), slice: 5)  // a lost wake-up would stall for seconds, not be hidden
        let producers = 4
        let perProducer = 2_000
        let capacity = 8
        let group = DispatchGroup()
        for producer in 0..<producers {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                for index in 0..<perProducer {
                    monitor.waiting { queue -> Monitor<Queue>.Step<Void> in
                        guard queue.items.count < capacity else { return .wait(seconds: nil) }
                        queue.items.append(producer * 1_000_000 + index)
                        return .done(())
                    }
                }
            }
        }
        let started = ContinuousClock.now
        var last = Array(repeating: -1, count: producers)
        var received = 0
        while received < producers * perProducer {
            let item = monitor.waiting { queue -> Monitor<Queue>.Step<Int> in
                queue.items.isEmpty ? .wait(seconds: nil) : .done(queue.items.removeFirst())
            }
            let producer = item / 1_000_000
            #expect(item % 1_000_000 == last[producer] + 1, "producer \(producer) out of order")
            last[producer] = item % 1_000_000
            received += 1
        }
        group.wait()
        #expect(last == Array(repeating: perProducer - 1, count: producers))
        // 8,000 hand-offs through a queue of 8: a single lost wake-up costs a 5 s slice.
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func aWaitEndsAtItsDeadlineWhenNothingChanges() {
        let monitor = Monitor(Queue())
        let started = ContinuousClock.now
        let deadline = started + .milliseconds(120)
        var steps = 0
        let timedOut = monitor.waiting { queue -> Monitor<Queue>.Step<Bool> in
            steps += 1
            if !queue.items.isEmpty { return .done(false) }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return .done(true) }
            return .wait(seconds: left / .seconds(1))
        }
        let waited = ContinuousClock.now - started
        #expect(timedOut)
        #expect(waited >= .milliseconds(120))
        #expect(steps >= 2)
    }

    @Test func aChangeUnderTheLockWakesTheWaiterAtOnce() {
        let monitor = Monitor(Queue(), slice: 10)
        let woke = Atomic<Bool>(false)
        let group = DispatchGroup()
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            monitor.waiting { queue -> Monitor<Queue>.Step<Void> in queue.closed ? .done(()) : .wait(seconds: nil) }
            woke.store(true, ordering: .relaxed)
        }
        usleep(50_000)
        let early = woke.load(ordering: .relaxed)
        #expect(!early, "the waiter returned before anything changed")
        let closedAt = ContinuousClock.now
        monitor.withLock { $0.closed = true }
        group.wait()
        let late = woke.load(ordering: .relaxed)
        #expect(late)
        #expect(ContinuousClock.now - closedAt < .seconds(5), "the waiter slept through the signal")
    }
}
