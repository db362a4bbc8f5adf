import Dispatch
import Foundation
import Runtime
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// SIGINT (Ctrl-C) and SIGTERM stop a running job gracefully: the first takes a last checkpoint, commits the sink
/// and lets `run()` return (`JobExecution.stop()`); a second one stops at once (`cancel()`, as before).
final class GracefulStop {
    private let sources: [any DispatchSourceSignal]

    /// Signals received so far.
    private final class Count: Sendable {
        let value = Atomic<Int>(0)
    }

    /// Installs the handlers for `execution` until `remove()`.
    init(_ execution: JobExecution) {
        var sources: [any DispatchSourceSignal] = []
        let received = Count()
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                let count = received.value.add(1, ordering: .relaxed).newValue
                if count == 1 {
                    FileHandle.standardError.write(Data(
                        "stopping: taking a last checkpoint and committing the output (signal again to stop at once)\n".utf8))
                    execution.stop()
                } else {
                    execution.cancel()
                }
            }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    /// Removes the handlers and restores the default actions.
    func remove() {
        for source in self.sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
