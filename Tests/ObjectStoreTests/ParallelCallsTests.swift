import Foundation
import ObjectStore
import Synchronization
import Testing

/// `ParallelCalls`: results in order, never more than `width` calls at once, nothing new after a failure, and
/// blocking calls nested in blocking calls all run at once (a prefetch of files whose parts download in parallel).
struct ParallelCallsTests {
    struct Failure: Error, Equatable { var item: Int }

    @Test func resultsComeInOrderWithinTheWidth() throws {
        let running = Mutex((now: 0, most: 0))
        let results = try ParallelCalls.map(Array(0..<40), width: 3) { (item: Int) throws(Failure) -> Int in
            running.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
            Thread.sleep(forTimeInterval: 0.002)
            running.withLock { $0.now -= 1 }
            return item * item
        }
        #expect(results == (0..<40).map { $0 * $0 })
        #expect(running.withLock { $0.most } <= 3)
        #expect(running.withLock { $0.most } >= 2)
    }

    @Test func aFailureStopsNewCallsAndTheFirstFailedItemIsThrown() {
        let started = Mutex(0)
        let thrown = #expect(throws: Failure.self) {
            _ = try ParallelCalls.map(Array(0..<100), width: 2) { (item: Int) throws(Failure) -> Int in
                started.withLock { $0 += 1 }
                if item >= 5 { throw Failure(item: item) }
                return item
            }
        }
        #expect(thrown == Failure(item: 5))
        #expect(started.withLock { $0 } < 100)
    }

    @Test func nestedBlockingCallsAllRunAtOnce() throws {
        // Every inner call waits until all 24 have started: with threads that are only added when the pool
        // notices blocked ones, this would take many seconds or stall; here each has a thread.
        let outer = 6
        let inner = 4
        let arrived = Mutex(0)
        let results = try ParallelCalls.map(Array(0..<outer), width: outer) { (file: Int) throws(Failure) -> Int in
            let parts = try ParallelCalls.map(Array(0..<inner), width: inner) { (part: Int) throws(Failure) -> Int in
                arrived.withLock { $0 += 1 }
                let deadline = Date().addingTimeInterval(30)
                while arrived.withLock({ $0 }) < outer * inner {
                    guard Date() < deadline else { throw Failure(item: file * inner + part) }
                    Thread.sleep(forTimeInterval: 0.001)
                }
                return part
            }
            return parts.reduce(0, +)
        }
        #expect(results == Array(repeating: 6, count: outer))
    }
}
