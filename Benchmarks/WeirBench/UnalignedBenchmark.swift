import ArgumentParser
import Checkpointing
import Foundation
import Runtime

/// `weir-bench unaligned`: the keyed-count job with a throttled sink, so channels stay full; checkpoint duration
/// and persisted in-flight bytes per alignment mode and channel capacity.
struct UnalignedBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unaligned",
        abstract: "Checkpoint duration under backpressure: aligned vs unaligned vs alignment timeout.",
        discussion: """
            Runs `weir run keyed-count` (generator → keyed count → counting sink, changelog checkpoints) with a \
            sink that sleeps after every 100 records, so every channel stays full. For each channel capacity and \
            mode, prints checkpoint duration p50/p99/max after the warm-up and the in-flight bytes persisted per \
            checkpoint. Aligned checkpoints wait for the queued data; unaligned ones overtake it and persist it.

            Example:
              swift run -c release weir-bench unaligned --duration 20 --json
            """
    )

    @Option(parsing: .upToNextOption, help: "Modes: aligned, unaligned, timeout.")
    var modes: [String] = ["aligned", "unaligned", "timeout"]

    @Option(parsing: .upToNextOption, help: "Buffers per channel (each 32 KiB): more queued data per channel.")
    var channelCapacities: [Int] = [8, 32]

    @Option(help: "Alignment timeout in milliseconds (mode timeout).")
    var alignmentTimeout: Int = 20

    @Option(help: "Sink sleep in microseconds after every 100 records.")
    var sinkThrottle: Int = 1_000

    @Option(help: "Distinct keys.")
    var keys: Int64 = 1_000_000

    @Option(help: "Payload bytes.")
    var payload: Int = 100

    @Option(help: "Subtasks per vertex.")
    var parallelism: Int = 2

    @Option(help: "Seconds per case.")
    var duration: Double = 20

    @Option(help: "Seconds of warm-up whose checkpoints are not counted.")
    var warmup: Double = 3

    @Option(help: "Checkpoint interval in milliseconds.")
    var interval: Int = 1_000

    @Flag(help: "Print one JSON object per case instead of a table.")
    var json = false

    func validate() throws {
        guard self.modes.allSatisfy({ ["aligned", "unaligned", "timeout"].contains($0) }) else {
            throw ValidationError("--modes takes aligned, unaligned, timeout")
        }
        guard self.channelCapacities.allSatisfy({ $0 >= 1 }), self.duration > self.warmup, self.interval > 0 else {
            throw ValidationError("--channel-capacities must be positive and --duration longer than --warmup")
        }
    }

    func run() throws {
        var results: [UnalignedBenchmarkResult] = []
        if !self.json {
            print("keyed-count, \(self.keys) keys, \(self.payload) B, parallelism \(self.parallelism), sink sleeps \(self.sinkThrottle) µs per 100 records, checkpoints every \(self.interval) ms")
        }
        for capacity in self.channelCapacities {
            for mode in self.modes {
                let result = try self.runCase(mode: mode, capacity: capacity)
                results.append(result)
                print(self.json ? result.jsonLine : result.row)
            }
        }
    }

    private func runCase(mode: String, capacity: Int) throws -> UnalignedBenchmarkResult {
        let scratch = benchScratchDirectory("unaligned")
        try? FileManager.default.removeItem(atPath: scratch)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var settings = KeyedCountRun.Settings(workingDirectory: scratch + "/work")
        settings.generator = GeneratorSource.Configuration(keys: self.keys, payloadBytes: self.payload)
        settings.parallelism = self.parallelism
        settings.duration = .milliseconds(Int64(self.duration * 1000))
        settings.checkpointDirectory = scratch + "/checkpoints"
        settings.interval = .milliseconds(self.interval)
        settings.alignment = AlignmentMode(name: mode, timeout: .milliseconds(self.alignmentTimeout)) ?? .aligned
        settings.sinkThrottle = .microseconds(self.sinkThrottle)
        settings.channelCapacity = capacity
        let summary: KeyedCountRun.Summary
        do {
            summary = try KeyedCountRun.run(settings)
        } catch {
            throw ValidationError("the \(mode) run failed: \(error.message)")
        }
        let seconds = summary.perSecond.dropFirst(Int(self.warmup))
        let checkpoints = summary.result.checkpoints.filter { $0.status == .completed }
        let measured = checkpoints.dropFirst(Int(self.warmup * 1000) / self.interval)
        let durations = measured.map { $0.endToEnd.milliseconds }.sorted()
        let inflight = measured.map(\.inflightBytes).sorted()
        return UnalignedBenchmarkResult(
            mode: mode, channelCapacity: capacity, checkpoints: measured.count,
            aborted: summary.result.checkpoints.count - checkpoints.count,
            recordsPerSec: seconds.isEmpty ? 0 : Double(seconds.reduce(0, +)) / Double(seconds.count),
            checkpointP50Ms: (percentile(durations, 0.5) ?? 0), checkpointP99Ms: (percentile(durations, 0.99) ?? 0),
            checkpointMaxMs: durations.last ?? 0, inflightBytesP50: (percentile(inflight.map(Double.init), 0.5) ?? 0),
            inflightBytesMax: inflight.last ?? 0,
            alignmentMaxMs: measured.map { $0.maxAlignment.milliseconds }.max() ?? 0)
    }

}

/// One case of `weir-bench unaligned`.
struct UnalignedBenchmarkResult: Encodable {
    var mode: String
    var channelCapacity: Int
    var checkpoints: Int
    var aborted: Int
    var recordsPerSec: Double
    var checkpointP50Ms: Double
    var checkpointP99Ms: Double
    var checkpointMaxMs: Double
    var inflightBytesP50: Double
    var inflightBytesMax: Int
    var alignmentMaxMs: Double

    enum CodingKeys: String, CodingKey {
        case mode, checkpoints, aborted
        case channelCapacity = "channel_capacity", recordsPerSec = "records_per_sec"
        case checkpointP50Ms = "checkpoint_p50_ms", checkpointP99Ms = "checkpoint_p99_ms", checkpointMaxMs = "checkpoint_max_ms"
        case inflightBytesP50 = "inflight_bytes_p50", inflightBytesMax = "inflight_bytes_max", alignmentMaxMs = "alignment_max_ms"
    }

    var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    var row: String {
        String(format: "%-9@ capacity %3d: checkpoint p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms  in-flight p50 %9.0f B  %8.0f records/s  (%d checkpoints, %d aborted)",
            self.mode, self.channelCapacity, self.checkpointP50Ms, self.checkpointP99Ms, self.checkpointMaxMs,
            self.inflightBytesP50, self.recordsPerSec, self.checkpoints, self.aborted)
    }
}
