import Foundation
import ServiceLifecycle

extension JobExecution: Service {
    /// Runs the job as a swift-service-lifecycle `Service` (in a `ServiceGroup` beside an HTTP server, a metrics
    /// endpoint, …): the group's graceful shutdown (SIGTERM, when the group is configured with it) or the
    /// cancellation of this task stops the job gracefully — a last checkpoint, the sinks commit, then it returns
    /// (`stop()`). See `execute()`.
    /// - Throws: `RuntimeError`, as `run()` does.
    public func run() async throws {
        _ = try await self.execute()
    }

    /// Runs the job to its end like the blocking `run()`, without blocking Swift's cooperative pool: the job
    /// and its RocksDB work run on threads of their own, and this task waits for them.
    ///
    /// Cancelling the calling task, or a graceful shutdown of the service group it runs in, stops the job
    /// gracefully (`stop()`): it returns once the last checkpoint completed and the sinks committed it, with
    /// `Result.stoppedAt` naming that checkpoint, and a restore from it reprocesses nothing. A job without
    /// checkpoints is cancelled instead.
    /// - Throws: `RuntimeError`, as `run()` does.
    @discardableResult
    public func execute() async throws(RuntimeError) -> Result {
        let outcome = await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Swift.Result<Result, RuntimeError>, Never>) in
                    let thread = Thread {
                        continuation.resume(returning: Swift.Result { () throws(RuntimeError) -> Result in try self.run() })
                    }
                    thread.name = "weir-job"
                    thread.start()
                }
            } onCancel: {
                self.stop()
            }
        } onGracefulShutdown: {
            self.stop()
        }
        return try outcome.get()
    }
}
