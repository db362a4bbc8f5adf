import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import ObjectStore
import StateCore
import Synchronization

/// An HTTP proxy in front of an S3-compatible server that fails a seeded share of the requests passing through
/// it, the way object storage fails in production: HTTP 500 `InternalError` and 503 `SlowDown` answers, a
/// connection reset before the request reaches the server, a reset after it took effect (the answer is lost: the
/// outcome is unknown to the client), a body cut off mid-way, and latency spikes.
///
/// Faults happen on the wire, so the real client meets them: `S3Client`'s retries, deadlines and conditional
/// creates are what is tested. Point a client at `configuration` instead of the server's.
public final class FaultInjectingS3Proxy: Sendable {
    /// Probabilities (0...1) per fault kind, drawn once per request.
    public struct Rates: Sendable, CustomStringConvertible {
        /// HTTP 500 `InternalError`, without forwarding.
        public var serverError: Double
        /// HTTP 503 `SlowDown`, without forwarding.
        public var slowDown: Double
        /// The connection reset before the request is forwarded.
        public var reset: Double
        /// The request forwarded (it takes effect), then the connection reset instead of the answer.
        public var lostAnswer: Double
        /// The answer's body cut off at half, then the connection closed.
        public var truncatedBody: Double
        /// A delay before forwarding.
        public var latency: Double
        /// The length of a delay.
        public var spike: Duration

        /// A fault in `rate` of the requests, spread evenly over the five kinds, and delays of 50 ms in a tenth as many.
        public static func uniform(_ rate: Double) -> Rates {
            Rates(
                serverError: rate / 5, slowDown: rate / 5, reset: rate / 5, lostAnswer: rate / 5, truncatedBody: rate / 5,
                latency: rate / 10, spike: .milliseconds(50))
        }

        /// Creates rates.
        public init(
            serverError: Double, slowDown: Double, reset: Double, lostAnswer: Double, truncatedBody: Double,
            latency: Double, spike: Duration
        ) {
            self.serverError = serverError
            self.slowDown = slowDown
            self.reset = reset
            self.lostAnswer = lostAnswer
            self.truncatedBody = truncatedBody
            self.latency = latency
            self.spike = spike
        }

        public var description: String {
            "500 \(self.serverError), 503 \(self.slowDown), reset \(self.reset), lost answer \(self.lostAnswer), "
                + "truncated body \(self.truncatedBody), latency \(self.latency) (\(self.spike))"
        }
    }

    /// What the proxy does to one request.
    public enum Fault: String, Sendable {
        case serverError = "HTTP 500"
        case slowDown = "HTTP 503 SlowDown"
        case reset = "reset before forwarding"
        case lostAnswer = "forwarded, then reset"
        case truncatedBody = "body cut at half"
        case spike = "latency spike"
    }

    /// One injected fault.
    public struct Injected: Sendable, CustomStringConvertible {
        /// The request's method and target.
        public var request: String
        /// What was done.
        public var fault: Fault

        public var description: String { "\(self.request): \(self.fault.rawValue)" }
    }

    fileprivate struct State {
        var random: SeededGenerator
        var rates: Rates
        var armed = true
        var injected: [Injected] = []
        var requests = 0
    }

    /// The client configuration that goes through the proxy (the upstream's, with the proxy's endpoint).
    public let configuration: S3Configuration
    private let decisions: Decisions
    private let group: MultiThreadedEventLoopGroup
    private let closed = Atomic<Bool>(false)
    private let channel: any Channel

    /// Starts a proxy on a free local port in front of `upstream`.
    public init(upstream: S3Configuration, seed: UInt64, rates: Rates) throws {
        let decisions = Decisions(State(random: SeededGenerator(seed: seed ^ 0x5335_5052_4f58_5900), rates: rates))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let shared = Shared(upstream: upstream.endpoint, decisions: decisions)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ProxyHandler(shared: shared))
                }
            }
        do {
            self.channel = try bootstrap.bind(host: "127.0.0.1", port: 0).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        self.group = group
        self.decisions = decisions
        var configuration = upstream
        configuration.endpoint = "http://127.0.0.1:\(self.channel.localAddress?.port ?? 0)"
        self.configuration = configuration
    }

    deinit { self.close() }

    /// Stops accepting connections. Idempotent.
    public func close() {
        guard !self.closed.exchange(true, ordering: .relaxed) else { return }
        try? self.channel.close().wait()
        try? self.group.syncShutdownGracefully()
    }

    /// Turns faults on or off (off: every request passes unharmed).
    public func setArmed(_ armed: Bool) { self.decisions.state.withLock { $0.armed = armed } }

    /// Replaces the rates.
    public func setRates(_ rates: Rates) { self.decisions.state.withLock { $0.rates = rates } }

    /// The faults injected so far, in order.
    public var injected: [Injected] { self.decisions.state.withLock { $0.injected } }

    /// Requests seen so far.
    public var requests: Int { self.decisions.state.withLock { $0.requests } }

    /// The seeded decisions, shared by every connection.
    fileprivate final class Decisions: Sendable {
        let state: Mutex<State>
        init(_ state: State) { self.state = Mutex(state) }
        func decide(_ request: String) -> (fault: Fault?, delay: Duration?) {
            self.state.withLock { FaultInjectingS3Proxy.decide(request, &$0) }
        }
    }

    fileprivate static func decide(_ request: String, _ state: inout State) -> (fault: Fault?, delay: Duration?) {
        state.requests += 1
        guard state.armed else { return (nil, nil) }
        let rates = state.rates
        let delay = Double.random(in: 0..<1, using: &state.random) < rates.latency ? rates.spike : nil
        var roll = Double.random(in: 0..<1, using: &state.random)
        var fault: Fault?
        for (kind, rate) in [
            (Fault.serverError, rates.serverError), (.slowDown, rates.slowDown), (.reset, rates.reset),
            (.lostAnswer, rates.lostAnswer), (.truncatedBody, rates.truncatedBody),
        ] {
            if roll < rate {
                fault = kind
                break
            }
            roll -= rate
        }
        if let fault { state.injected.append(Injected(request: request, fault: fault)) }
        if delay != nil { state.injected.append(Injected(request: request, fault: .spike)) }
        return (fault, delay)
    }

    /// What every connection's handler shares.
    fileprivate struct Shared: Sendable {
        var upstream: String
        var decisions: Decisions
    }
}

/// Reads a whole request, then answers it as the proxy decided: forwarded, failed, reset or cut short.
private final class ProxyHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let shared: FaultInjectingS3Proxy.Shared
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(shared: FaultInjectingS3Proxy.Shared) { self.shared = shared }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body = []
        case .body(let buffer):
            self.body += buffer.readableBytesView
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            self.handle(head, body: self.body, context: context)
        }
    }

    private func handle(_ head: HTTPRequestHead, body: [UInt8], context: ChannelHandlerContext) {
        let (fault, delay) = self.shared.decisions.decide("\(head.method.rawValue) \(head.uri)")
        switch fault {
        case .serverError:
            self.answer(head, status: .internalServerError, code: "InternalError", context: context)
            return
        case .slowDown:
            self.answer(head, status: .serviceUnavailable, code: "SlowDown", context: context)
            return
        case .reset:
            Self.reset(context)
            return
        default:
            break
        }
        var headers = HTTPHeaders()
        for (name, value) in head.headers
        where !["content-length", "transfer-encoding", "connection", "expect"].contains(name.lowercased()) {
            headers.add(name: name, value: value)
        }
        let request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(
                url: self.shared.upstream + head.uri, method: head.method, headers: headers,
                body: body.isEmpty && head.method != .PUT && head.method != .POST ? nil : .bytes(body))
        } catch {
            Self.reset(context)
            return
        }
        let sent: EventLoopFuture<HTTPClient.Response>
        if let delay {
            let nanoseconds = Int64(delay.components.seconds) * 1_000_000_000 + Int64(delay.components.attoseconds / 1_000_000_000)
            sent = context.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) {}.futureResult.flatMap {
                HTTPClient.shared.execute(request: request, deadline: .now() + .seconds(60))
            }
        } else {
            sent = HTTPClient.shared.execute(request: request, deadline: .now() + .seconds(60))
        }
        sent.hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
            guard case .success(let response) = result else {
                Self.reset(context)
                return
            }
            if fault == .lostAnswer || (fault == .truncatedBody && head.method == .HEAD) {
                Self.reset(context)
                return
            }
            var headers = HTTPHeaders()
            for (name, value) in response.headers
            where !["content-length", "transfer-encoding", "connection"].contains(name.lowercased()) {
                headers.add(name: name, value: value)
            }
            let bytes = response.body.map { Array($0.readableBytesView) } ?? []
            // A HEAD answer's length is the object's, without a body.
            let length = head.method == .HEAD ? response.headers.first(name: "Content-Length") ?? "0" : String(bytes.count)
            headers.add(name: "Content-Length", value: length)
            context.write(
                self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers))),
                promise: nil)
            if fault == .truncatedBody {
                let half = context.channel.allocator.buffer(bytes: bytes.prefix(bytes.count / 2))
                context.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(half)))).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
                return
            }
            if head.method != .HEAD && !bytes.isEmpty {
                context.write(self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil)
            }
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    /// An S3 error answer (the connection stays open).
    private func answer(_ head: HTTPRequestHead, status: HTTPResponseStatus, code: String, context: ChannelHandlerContext) {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>\(code)</Code><Message>injected by the test "
            + "proxy</Message></Error>"
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/xml")
        headers.add(name: "Content-Length", value: head.method == .HEAD ? "0" : String(xml.utf8.count))
        context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: xml)))), promise: nil)
        }
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// Drops the connection without an answer (what the client sees of a reset: the connection ends before the
    /// response).
    private static func reset(_ context: ChannelHandlerContext) {
        context.close(promise: nil)
    }
}
