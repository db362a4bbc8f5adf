import ArgumentParser
import Foundation
import Logging
import Monitoring

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// What `weir run` sets up beside the job: the log handler (stderr, at `--log-level`) and, with
/// `--metrics-port`, the Prometheus endpoint that swift-metrics reports to.
struct RunServices {
    /// The metrics endpoint (nil: not asked for).
    let metrics: MetricsEndpoint?

    /// Bootstraps logging and starts the metrics endpoint; prints its URL.
    /// - Throws: `ExitCode(1)` after a one-line `error:` when the port cannot be bound.
    static func start(_ options: JobOptions) throws -> RunServices {
        let level = options.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        guard let port = options.metricsPort else { return RunServices(metrics: nil) }
        do {
            let endpoint = try MetricsEndpoint.start(port: port, registry: MetricsEndpoint.bootstrapPrometheus())
            FileHandle.standardOutput.write(Data("metrics: \(endpoint.url)\n".utf8))  // unbuffered: scrapers read it at once
            return RunServices(metrics: endpoint)
        } catch {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// Stops the endpoint.
    func close() { self.metrics?.close() }
}
