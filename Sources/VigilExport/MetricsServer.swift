import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import VigilMetrics

/// Serves a registry to Prometheus over HTTP: `GET`/`HEAD /metrics` in text 0.0.4 or
/// OpenMetrics by `Accept`, gzip when `Accept-Encoding` allows, `/-/healthy`, `/-/ready`, a
/// landing page at `/`, and `POST /-/reload` when a reload hook is configured. With a `WebConfig`
/// (`configuration.web`) it serves HTTPS and asks for bcrypt basic auth, as exporters built on
/// Prometheus' exporter-toolkit do. Two lines for a host:
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
        /// TLS, response headers and basic auth, as exporter-toolkit's `--web.config.file` sets
        /// them. The default serves plain HTTP to anyone who can connect.
        public var web = WebConfig()
        /// Told when rotated certificate files do not load; the server keeps serving the
        /// certificate it had and tries the files again when they change again.
        public var tlsReloadFailed: (@Sendable (WebConfigError) -> Void)?
        /// The bcrypt check, replaceable so that tests can count its calls.
        var passwordVerifier: ScrapeAuthentication.Verifier?
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

        /// Whether `/-/ready` answers 200: nil from the closure means ready, a reason means 503
        /// with it ("shutting down", "not sampled yet"), as an orchestrator's readiness probe
        /// expects. Nil (the default): always ready once listening.
        public var ready: (@Sendable () -> String?)?

        /// Loopback, port 9464, `/metrics`, no credentials.
        public init() {}

        /// `https` with `web.tls`, `http` without: how to write the server's URL.
        public var scheme: String { web.tls == nil ? "http" : "https" }
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

    /// Binds and starts serving. Throws `MetricsServerError`: when the web config is wrong (a
    /// hash that is not bcrypt, certificate files that do not load) or the address cannot be
    /// bound (in use, not local).
    public static func start(registry: Registry, configuration: Configuration = Configuration(),
                             group: MultiThreadedEventLoopGroup? = nil) async throws -> MetricsServer {
        let tls: TLSContextReloader?
        do {
            try configuration.web.validate()
            let reloadFailed = configuration.tlsReloadFailed ?? { _ in }
            tls = try configuration.web.tls.map { settings throws(WebConfigError) in
                try TLSContextReloader(settings: settings, onReloadFailure: reloadFailed)
            }
        } catch {
            throw MetricsServerError.webConfig(error)
        }
        let users = configuration.web.basicAuthUsers
        let auth = users.isEmpty ? nil : ScrapeAuthentication(users: users, verify: configuration.passwordVerifier)
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
                    // TLS first: everything after it, the limits included, sees plain HTTP.
                    if let tls { try channel.pipeline.syncOperations.addHandler(tls.makeHandler()) }
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: configuration.idleTimeout))
                    try channel.pipeline.syncOperations.addHandler(HeaderSizeLimiter(limit: configuration.maxHeaderBytes))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        MetricsHandler(registry: registry, configuration: configuration, auth: auth, metrics: metrics))
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
    /// The web configuration cannot be served: a hash that is not bcrypt, settings that
    /// disagree, certificate files that do not load.
    case webConfig(WebConfigError)

    public var description: String {
        switch self {
        case let .webConfig(error):
            "web config: \(error)"
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
