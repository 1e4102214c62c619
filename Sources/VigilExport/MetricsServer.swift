import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import VigilMetrics

/// Serves a registry to Prometheus over HTTP: `GET`/`HEAD /metrics` in text 0.0.4 or
/// OpenMetrics by `Accept`, gzip when `Accept-Encoding` allows, `/-/healthy`, `/-/ready`, a
/// landing page at `/`, and `POST /-/reload` when a reload hook is configured. Two lines for a host:
///
///     let server = try await MetricsServer.start(registry: registry)
///     // … later: try await server.stop()
public final class MetricsServer: Sendable {
    /// Where to listen and what a connection may do.
    public struct Configuration: Sendable {
        /// The address to listen on; loopback by default, so nothing is exposed unasked.
        public var host = "127.0.0.1"
        /// The port; 0 picks a free one (see `localPort`).
        public var port = 9464
        /// Where the metrics are served.
        public var metricsPath = "/metrics"
        /// Requests must carry these credentials when set.
        public var auth: Authentication?
        /// At most this many connections are open at once; more are closed on accept.
        public var maxConnections = 64
        /// A connection that sends nothing for this long is closed.
        public var idleTimeout: TimeAmount = .seconds(60)
        /// A request whose head is larger than this gets 431 and a closed connection.
        public var maxHeaderBytes = 16 * 1024
        /// A request body larger than this gets 413 (scrapes have none).
        public var maxBodyBytes = 64 * 1024
        /// What `POST` or `PUT /-/reload` runs: the lifecycle API, as Prometheus'
        /// `--web.enable-lifecycle` enables it. The request waits for the hook and is answered 200
        /// on `.reloaded`, 500 with the reason on `.failed`. Nil (the default): the endpoint
        /// answers 403, "Lifecycle API is not enabled.". `GET /-/reload` gets 405 either way.
        public var reload: (@Sendable () async -> ReloadResult)?

        /// Loopback, port 9464, `/metrics`, no credentials.
        public init() {}
    }

    /// What a reload hook (`Configuration.reload`) reports, and so how `/-/reload` answers.
    public enum ReloadResult: Sendable, Equatable {
        /// Applied: 200, with the text as the body.
        case reloaded(String)
        /// Not applied: 500, with `failed to reload config: ` and the text as the body.
        case failed(String)
    }

    /// What the server was started with.
    public let configuration: Configuration
    let registry: Registry
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    private let ownsGroup: Bool

    /// The address actually bound (port 0 picks a free port).
    public var localPort: Int { channel.localAddress?.port ?? configuration.port }

    init(configuration: Configuration, registry: Registry, channel: any Channel, group: MultiThreadedEventLoopGroup, ownsGroup: Bool) {
        self.configuration = configuration
        self.registry = registry
        self.channel = channel
        self.group = group
        self.ownsGroup = ownsGroup
    }

    /// Binds and starts serving. Throws when the address cannot be bound (in use, not local).
    public static func start(registry: Registry, configuration: Configuration = Configuration(),
                             group: MultiThreadedEventLoopGroup? = nil) async throws -> MetricsServer {
        let ownsGroup = group == nil
        let group = group ?? MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let metrics = try ServerMetrics(registry: registry)
        let connections = OpenConnections()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                guard connections.admit(limit: configuration.maxConnections) else {
                    metrics.rejectedConnections.inc()
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in connections.release() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: configuration.idleTimeout))
                    try channel.pipeline.syncOperations.addHandler(HeaderSizeLimiter(limit: configuration.maxHeaderBytes))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        MetricsHandler(registry: registry, configuration: configuration, metrics: metrics))
                }
            }
        do {
            let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
            return MetricsServer(configuration: configuration, registry: registry, channel: channel, group: group, ownsGroup: ownsGroup)
        } catch {
            if ownsGroup { try? await group.shutdownGracefully() }
            throw MetricsServerError.bind(host: configuration.host, port: configuration.port, underlying: "\(error)")
        }
    }

    /// Stops accepting connections and closes the listening socket.
    public func stop() async throws {
        try await channel.close().get()
        if ownsGroup { try await group.shutdownGracefully() }
    }
}

/// Why the metrics server did not start.
public enum MetricsServerError: Error, CustomStringConvertible {
    /// The address could not be bound: in use, not local, or a privileged port.
    case bind(host: String, port: Int, underlying: String)

    public var description: String {
        switch self {
        case let .bind(host, port, underlying):
            "cannot listen on \(host):\(port): \(underlying) (is another process using the port? choose another with listen: in the config)"
        }
    }
}

/// How many connections are open, so that those past `maxConnections` are refused on accept.
final class OpenConnections: Sendable {
    private let count = Atomic<Int>(0)

    /// Counts a new connection and returns true when at most `limit` are then open; otherwise
    /// counts nothing and returns false.
    func admit(limit: Int) -> Bool {
        guard count.wrappingAdd(1, ordering: .relaxed).newValue > limit else { return true }
        count.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    /// Forgets a connection that `admit` counted, once it has closed.
    func release() {
        count.wrappingSubtract(1, ordering: .relaxed)
    }
}
