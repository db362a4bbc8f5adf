import Runtime
import Testing

/// The coordinator's rules as a pure state machine: events in, one action out per step, on a clock the test sets.
@Suite struct CheckpointSchedulerTests {
    typealias Scheduler = CheckpointScheduler<String>

    /// The scheduler behind a reference, so a step can sit inside `#expect`.
    final class Driver {
        var state: Scheduler

        init(_ state: Scheduler) { self.state = state }

        var pending: Scheduler.Pending? { self.state.pending }
        var nextID: Int64 { self.state.nextID }
        var tasks: Int { self.state.tasks }
        var finalCompleted: Bool { self.state.finalCompleted }
        func taskReady() { self.state.taskReady() }
        func sourceFinished() { self.state.sourceFinished() }
        func requestStop() { self.state.requestStop() }
        func nextAction(now: Duration) -> Scheduler.Action { self.state.nextAction(now: now) }
        func stop() -> Scheduler.Pending? { self.state.stop() }
        func ended(_ pending: Scheduler.Pending, completed: Bool, at end: Duration) {
            self.state.ended(pending, completed: completed, at: end)
        }
        @discardableResult
        func acknowledge(_ acknowledgement: String, checkpointID: Int64) -> Bool {
            self.state.acknowledge(acknowledgement, checkpointID: checkpointID)
        }
    }

    /// A scheduler started at 0 whose first checkpoint is 7.
    func scheduler(
        interval: Duration = .seconds(1), minimumPause: Duration = .zero, timeout: Duration = .seconds(10),
        tasks: Int = 2, sources: Int = 1, ready: Bool = true
    ) -> Driver {
        let scheduler = Driver(Scheduler(
            interval: interval, minimumPause: minimumPause, timeout: timeout, tasks: tasks, sources: sources,
            firstID: 7, now: .zero))
        if ready { for _ in 0..<tasks { scheduler.taskReady() } }
        return scheduler
    }

    func barrier(_ id: Int64, at time: Duration, isFinal: Bool = false, stopsJob: Bool = false) -> CheckpointBarrier {
        CheckpointBarrier(checkpointID: id, triggeredAt: time, isFinal: isFinal, stopsJob: stopsJob)
    }

    /// The barrier of a `.trigger`, or nil.
    func triggered(_ action: Scheduler.Action) -> CheckpointBarrier? {
        if case .trigger(let barrier) = action { return barrier }
        return nil
    }

    func waitDeadline(_ action: Scheduler.Action) -> Duration?? {
        if case .wait(let deadline) = action { return .some(deadline) }
        return .none
    }

    /// Triggers, acknowledges from every task, completes and ends at `end`; returns the completed checkpoint.
    func runOne(_ scheduler: Driver, at now: Duration, end: Duration) -> Scheduler.Pending? {
        guard let barrier = triggered(scheduler.nextAction(now: now)) else { return nil }
        for task in 0..<scheduler.tasks { scheduler.acknowledge("t\(task)", checkpointID: barrier.checkpointID) }
        guard case .complete(let pending) = scheduler.nextAction(now: now) else { return nil }
        scheduler.ended(pending, completed: true, at: end)
        return pending
    }

    @Test func triggersOnlyOnceEveryTaskIsReadyAndTheIntervalPassed() {
        let scheduler = scheduler(ready: false)
        scheduler.taskReady()
        #expect(waitDeadline(scheduler.nextAction(now: .seconds(5))) == .some(nil), "one task is still restoring")
        scheduler.taskReady()
        let early = Driver(scheduler.state)
        #expect(waitDeadline(early.nextAction(now: .milliseconds(400))) == .some(.seconds(1)))
        let barrier = triggered(scheduler.nextAction(now: .seconds(5)))
        #expect(barrier == self.barrier(7, at: .seconds(5)))
        #expect(scheduler.pending?.id == 7)
        #expect(scheduler.nextID == 8)
    }

    @Test func oneCheckpointInFlightCompletesWhenEveryTaskAcknowledged() {
        let scheduler = scheduler()
        #expect(triggered(scheduler.nextAction(now: .seconds(1)))?.checkpointID == 7)
        // Long past the next interval, the pending checkpoint only waits for its timeout.
        #expect(scheduler.acknowledge("a", checkpointID: 7))
        #expect(waitDeadline(scheduler.nextAction(now: .seconds(3))) == .some(.seconds(11)))
        #expect(scheduler.acknowledge("b", checkpointID: 7))
        guard case .complete(let pending) = scheduler.nextAction(now: .seconds(3)) else {
            Issue.record("expected the checkpoint to complete")
            return
        }
        #expect(pending.id == 7)
        #expect(pending.acknowledgements == ["a", "b"])
        #expect(scheduler.pending == nil)
        scheduler.ended(pending, completed: true, at: .seconds(3))
        // The interval counts from the last trigger (1 s): the next one is due at once.
        #expect(triggered(scheduler.nextAction(now: .seconds(3)))?.checkpointID == 8)
    }

    @Test func aPendingCheckpointAbortsAtItsTimeoutAndTheNextStartsAfterTheMinimumPause() {
        let scheduler = scheduler(minimumPause: .seconds(2), timeout: .seconds(4))
        #expect(triggered(scheduler.nextAction(now: .seconds(2)))?.checkpointID == 7)
        scheduler.acknowledge("a", checkpointID: 7)
        #expect(waitDeadline(scheduler.nextAction(now: .milliseconds(5999))) == .some(.seconds(6)))
        guard case .abort(let aborted, let reason) = scheduler.nextAction(now: .seconds(6)) else {
            Issue.record("expected the checkpoint to time out")
            return
        }
        #expect(aborted.id == 7)
        #expect(aborted.acknowledgements.isEmpty, "what the tasks recorded is dropped")
        #expect(reason.contains("4"))
        scheduler.ended(aborted, completed: false, at: .milliseconds(6100))
        #expect(waitDeadline(scheduler.nextAction(now: .milliseconds(6200))) == .some(.milliseconds(8100)))
        #expect(triggered(scheduler.nextAction(now: .milliseconds(8100)))?.checkpointID == 8)
    }

    @Test func theMinimumPauseCountsFromTheEndOfASlowCheckpoint() {
        let scheduler = scheduler(interval: .seconds(1), minimumPause: .milliseconds(500))
        #expect(runOne(scheduler, at: .seconds(1), end: .milliseconds(2800)) != nil)
        // The interval alone would trigger at 2 s; the pause holds it until 3.3 s.
        #expect(waitDeadline(scheduler.nextAction(now: .milliseconds(2900))) == .some(.milliseconds(3300)))
        #expect(triggered(scheduler.nextAction(now: .milliseconds(3300)))?.triggeredAt == .milliseconds(3300))
    }

    @Test func acknowledgementsOfAnotherCheckpointAreDropped() {
        let scheduler = scheduler(timeout: .seconds(1))
        #expect(!scheduler.acknowledge("early", checkpointID: 7), "nothing is pending yet")
        #expect(triggered(scheduler.nextAction(now: .seconds(1)))?.checkpointID == 7)
        guard case .abort(let aborted, _) = scheduler.nextAction(now: .seconds(2)) else {
            Issue.record("expected a timeout")
            return
        }
        scheduler.ended(aborted, completed: false, at: .seconds(2))
        #expect(triggered(scheduler.nextAction(now: .seconds(3)))?.checkpointID == 8)
        // Late acknowledgements of the aborted checkpoint 7 must not count towards 8.
        #expect(!scheduler.acknowledge("late-a", checkpointID: 7))
        #expect(!scheduler.acknowledge("late-b", checkpointID: 7))
        #expect(scheduler.acknowledge("a", checkpointID: 8))
        #expect(waitDeadline(scheduler.nextAction(now: .seconds(3))) == .some(.seconds(4)))
        #expect(scheduler.pending?.acknowledgements == ["a"])
    }

    @Test func theFinalCheckpointIsTriggeredAtOnceAndNothingAfterIt() {
        let scheduler = scheduler(interval: .seconds(60), sources: 2)
        scheduler.sourceFinished()
        #expect(waitDeadline(scheduler.nextAction(now: .seconds(1))) == .some(.seconds(60)), "one source still runs")
        scheduler.sourceFinished()
        let final = runOne(scheduler, at: .seconds(1), end: .seconds(2))
        #expect(final?.isFinal == true)
        #expect(final?.stopsJob == false)
        #expect(scheduler.finalCompleted)
        #expect(waitDeadline(scheduler.nextAction(now: .seconds(500))) == .some(nil))
    }

    @Test func anAbortedFinalCheckpointIsTriedAgain() {
        let scheduler = scheduler(interval: .seconds(60), timeout: .seconds(1))
        scheduler.sourceFinished()
        #expect(triggered(scheduler.nextAction(now: .zero))?.isFinal == true)
        guard case .abort(let aborted, _) = scheduler.nextAction(now: .seconds(1)) else {
            Issue.record("expected a timeout")
            return
        }
        scheduler.ended(aborted, completed: false, at: .seconds(1))
        #expect(!scheduler.finalCompleted)
        #expect(triggered(scheduler.nextAction(now: .seconds(1)))?.isFinal == true)
    }

    @Test func aStopRequestWaitsForTheCheckpointInFlightThenStopsTheJobWithTheNext() {
        let scheduler = scheduler(interval: .seconds(60))
        #expect(triggered(scheduler.nextAction(now: .seconds(60)))?.stopsJob == false)
        scheduler.requestStop()
        #expect(waitDeadline(scheduler.nextAction(now: .seconds(61))) == .some(.seconds(70)), "one in flight")
        for task in ["a", "b"] { scheduler.acknowledge(task, checkpointID: 7) }
        guard case .complete(let first) = scheduler.nextAction(now: .seconds(61)) else {
            Issue.record("expected checkpoint 7 to complete")
            return
        }
        scheduler.ended(first, completed: true, at: .seconds(61))
        #expect(!scheduler.finalCompleted)
        // Not 60 s later: at once.
        let stopping = triggered(scheduler.nextAction(now: .seconds(61)))
        #expect(stopping == barrier(8, at: .seconds(61), isFinal: true, stopsJob: true))
    }

    @Test func aStopRequestAfterEverySourceFinishedTakesTheFinalCheckpoint() {
        let scheduler = scheduler()
        scheduler.sourceFinished()
        scheduler.requestStop()
        let barrier = triggered(scheduler.nextAction(now: .zero))
        #expect(barrier?.isFinal == true)
        #expect(barrier?.stopsJob == false, "the bounded input ends the job itself")
    }

    @Test func stopHandsOutThePendingCheckpointAndExits() {
        let scheduler = scheduler()
        #expect(triggered(scheduler.nextAction(now: .seconds(1)))?.checkpointID == 7)
        #expect(scheduler.stop()?.id == 7)
        #expect(scheduler.pending == nil)
        guard case .exit = scheduler.nextAction(now: .seconds(2)) else {
            Issue.record("expected exit")
            return
        }
        #expect(!scheduler.acknowledge("a", checkpointID: 7))
        #expect(scheduler.stop()?.id == nil, "a second stop has nothing to abort")
    }

    @Test func aJobWithoutSourcesNeverTakesAFinalCheckpoint() {
        let scheduler = scheduler(sources: 0)
        #expect(triggered(scheduler.nextAction(now: .seconds(1)))?.isFinal == false)
    }
}
