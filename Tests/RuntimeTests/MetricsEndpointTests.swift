import AsyncHTTPClient
import Foundation
import Monitoring
import NIOCore
import Prometheus
import StateTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The Prometheus endpoint over real HTTP: the library type serves its registry on `/metrics`, and `weir run
/// --metrics-port` serves the job's checkpoint, task, restore and changelog figures while it runs.
@Suite(.serialized) struct MetricsEndpointTests {
    /// One GET: status and body.
    static func get(_ url: String) async throws -> (status: Int, body: String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), String(buffer: body))
    }

    @Test func theEndpointServesItsRegistryAndNothingElse() async throws {
        let registry = PrometheusCollectorRegistry()
        let counter = registry.makeCounter(
            descriptor: MetricNameDescriptor(metricName: "weir_test", unitName: "events", helpText: "Test events."),
            labels: [("kind", "scrape")])
        counter.increment(by: Int64(41))
        counter.increment()
        let endpoint = try MetricsEndpoint.start(port: 0, registry: registry)
        defer { endpoint.close() }
        #expect(endpoint.port > 0)
        let scraped = try await Self.get(endpoint.url)
        #expect(scraped.status == 200)
        #expect(scraped.body.contains("# TYPE weir_test_events counter"), "\(scraped.body)")
        #expect(scraped.body.contains("weir_test_events{kind=\"scrape\"} 42"), "\(scraped.body)")
        counter.increment()
        #expect(try await Self.get(endpoint.url).body.contains("weir_test_events{kind=\"scrape\"} 43"))
        #expect(try await Self.get("http://127.0.0.1:\(endpoint.port)/other").status == 404)
    }

    @Test func aPortInUseIsAClearError() throws {
        let registry = PrometheusCollectorRegistry()
        let first = try MetricsEndpoint.start(port: 0, registry: registry)
        defer { first.close() }
        let error = try #require(throws: MonitoringError.self) {
            try MetricsEndpoint.start(port: first.port, registry: registry)
        }
        #expect(error.message.contains("cannot serve metrics on 127.0.0.1:\(first.port)"), "\(error.message)")
        #expect(error.message.contains("--metrics-port"), "\(error.message)")
    }

    /// The demo job with `--metrics-port 0`: the printed URL serves the job's figures while it runs, and they
    /// grow between scrapes; SIGTERM then stops it gracefully (exit 0).
    @Test func weirRunServesTheJobsMetrics() async throws {
        let scratch = TemporaryDirectory(prefix: "weir-metrics-cli")
        defer { scratch.remove() }
        let root = scratch.appending("checkpoints")
        let printed = Pipe()
        let process = try KillRecoveryTests.launch(
            [
                "run", "keyed-count", "--keys", "1000", "--payload", "16", "--rate", "20000", "--duration", "0",
                "--checkpoint-interval", "100", "--checkpoint-directory", root, "--metrics-port", "0",
            ], scratch: scratch, output: printed)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        // The first line names the URL.
        var line = Data()
        while process.isRunning, !line.contains(0x0A) {
            let chunk = printed.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        let url = try #require(text.split(separator: "\n").first { $0.hasPrefix("metrics: ") }.map { String($0.dropFirst(9)) }, "\(text)")
        let deadline = ContinuousClock.now + .seconds(60)
        while KillRecoveryTests.latestCheckpoint(root) < 3 && process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        let first = try await Self.get(url)
        #expect(first.status == 200)
        for name in [
            "weir_checkpoints{job=\"keyed-count\",status=\"completed\"}", "weir_checkpoint_duration_bucket",
            "weir_checkpoint_alignment_duration_count", "weir_checkpoint_start_delay_count",
            "weir_checkpoint_checkpointed_bytes", "weir_checkpoint_inflight_bytes",
            "weir_records_in{job=\"keyed-count\",vertex=\"generator\",subtask=\"0\"}", "weir_backpressured_microseconds",
            "weir_changelog_bytes_in_memory{backend=\"count/0\"}",
        ] {
            #expect(first.body.contains(name), "\(name) missing from:\n\(first.body)")
        }
        func completed(_ body: String) -> Double {
            body.split(separator: "\n").first { $0.hasPrefix("weir_checkpoints{job=\"keyed-count\",status=\"completed\"}") }
                .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } } ?? 0
        }
        #expect(completed(first.body) >= 3, "\(first.body)")
        let later = ContinuousClock.now + .seconds(30)
        var second = try await Self.get(url)
        while completed(second.body) <= completed(first.body) && ContinuousClock.now < later {
            try await Task.sleep(for: .milliseconds(50))
            second = try await Self.get(url)
        }
        #expect(completed(second.body) > completed(first.body))
        kill(process.processIdentifier, SIGTERM)
        _ = printed.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }
}
