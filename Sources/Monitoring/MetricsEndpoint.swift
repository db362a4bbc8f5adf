import CoreMetrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// An HTTP server that serves a Prometheus registry in the text exposition format on `GET /metrics`, for a
/// Prometheus server (or `curl`) to scrape.
///
/// Weir's runtime, checkpoints and object-storage client report through swift-metrics. To expose them, bootstrap
/// swift-metrics with Prometheus once at startup and serve its registry:
///
/// ```swift
/// let registry = MetricsEndpoint.bootstrapPrometheus()
/// let endpoint = try MetricsEndpoint.start(port: 9464, registry: registry)
/// defer { endpoint.close() }
/// ```
///
/// `weir run … --metrics-port N` does exactly this. The server runs on one event-loop thread of its own; a scrape
/// renders the registry at that moment.
public final class MetricsEndpoint: Sendable {
    /// The address the server listens on.
    public let host: String
    /// The port it listens on (the one the system chose when `start` was given 0).
    public let port: Int
    /// The registry it serves.
    public let registry: PrometheusCollectorRegistry
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    private init(host: String, port: Int, registry: PrometheusCollectorRegistry, group: MultiThreadedEventLoopGroup, channel: any Channel) {
        self.host = host
        self.port = port
        self.registry = registry
        self.group = group
        self.channel = channel
    }

    /// The scrape URL, `http://HOST:PORT/metrics`.
    public var url: String { "http://\(self.host):\(self.port)/metrics" }

    /// Makes a Prometheus registry the backend of swift-metrics (`MetricsSystem.bootstrap`, which a process may
    /// call once) and returns it for `start`.
    public static func bootstrapPrometheus() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }

    /// Starts serving `registry` on `host:port` (port 0: any free port; read `port` afterwards).
    /// - Throws: `MonitoringError` when the address cannot be bound (in use, not local, no permission).
    public static func start(host: String = "127.0.0.1", port: Int, registry: PrometheusCollectorRegistry)
        throws(MonitoringError) -> MetricsEndpoint
    {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 32)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ScrapeHandler(registry: registry))
                }
            }
        do {
            let channel = try bootstrap.bind(host: host, port: port).wait()
            let bound = channel.localAddress?.port ?? port
            return MetricsEndpoint(host: host, port: bound, registry: registry, group: group, channel: channel)
        } catch {
            try? group.syncShutdownGracefully()
            throw MonitoringError(
                "cannot serve metrics on \(host):\(port): \(error). Choose another port (--metrics-port), or 0 for any free one.")
        }
    }

    /// Stops serving and ends the server's thread.
    public func close() {
        try? self.channel.close().wait()
        try? self.group.syncShutdownGracefully()
    }
}

/// Answers one HTTP connection's requests: the registry on `GET /metrics` (and `/`), 404 elsewhere, 405 for
/// other methods.
private final class ScrapeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private var head: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            self.respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        var body: [UInt8] = []
        let status: HTTPResponseStatus
        var headers = HTTPHeaders()
        if head.method != .GET && head.method != .HEAD {
            status = .methodNotAllowed
            headers.add(name: "Allow", value: "GET, HEAD")
        } else if path == "/metrics" || path == "/" {
            status = .ok
            self.registry.emit(into: &body)
            headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
        } else {
            status = .notFound
            body = Array("not found: scrape /metrics\n".utf8)
        }
        headers.add(name: "Content-Length", value: String(body.count))
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let written = context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
        if !keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
