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
        /// Where `web` came from, watched so that a changed file applies without a restart, as
        /// exporter-toolkit re-reads `--web.config.file`. Nil (the default): `web` stays as given.
        public var webConfigFile: WebConfigSource?
        /// The bcrypt check, replaceable so that tests can count its calls.
        var passwordVerifier: ScrapeAuthentication.Verifier?
        /// At most this many connections are open at once; more are closed on accept and counted
        /// in `vigil_http_rejected_connections_total{limit="total"}`.
        public var maxConnections = 512
        /// At most this many of them from one client address (`limit="per_client"`), so that one
        /// client holding connections open cannot take every slot. Clients behind one NAT or proxy
        /// share it.
        public var maxConnectionsPerClient = 32
        /// A connection that sends nothing for this long between requests is closed.
        public var idleTimeout: TimeAmount = .seconds(60)
        /// A request head (the request line and headers) must be complete this long after it began
        /// (for the first request, after the connection was accepted or its TLS handshake done),
        /// or the connection is closed: Go's `ReadHeaderTimeout`.
        public var requestHeadTimeout: TimeAmount = .seconds(10)
        /// A TLS handshake must be complete this long after accept, or the connection is closed.
        public var tlsHandshakeTimeout: TimeAmount = .seconds(10)
        /// A request whose head is larger than this gets 431 and a closed connection; every
        /// request of a keep-alive connection is held to it.
        public var maxHeaderBytes = 16 * 1024
        /// Threads that run bcrypt; never the event loop's, never the scrapes'.
        public var passwordCheckThreads = 2
        /// bcrypt checks queued or running at most; past it a request gets 503 at once.
        public var maxPendingPasswordChecks = 16
        /// Wrong passwords in a row an address may send before it is backed off (429, no bcrypt).
        public var authFailuresBeforeBackoff = 5
        /// The first back-off; each further failure doubles it, up to `maxAuthBackoff`.
        public var authBackoff: Duration = .seconds(1)
        /// The longest back-off; an address with no failure for this long is forgotten.
        public var maxAuthBackoff: Duration = .seconds(60)
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

    /// A web config file to watch: read again when it changes (its `stat` is checked on each
    /// request and connection), applied when it loads, reported either way.
    public struct WebConfigSource: Sendable {
        /// The file.
        public var path: String
        /// Reads and checks it (the sidecar's `WebConfigFile.load`); a throw keeps the previous config.
        public var load: @Sendable (String) throws -> WebConfig
        /// Told after each reading of a changed file: the config applied, or why not.
        public var reloaded: @Sendable (Result<WebConfig, WebConfigReloadError>) -> Void

        public init(path: String, load: @escaping @Sendable (String) throws -> WebConfig,
                    reloaded: @escaping @Sendable (Result<WebConfig, WebConfigReloadError>) -> Void = { _ in }) {
            self.path = path
            self.load = load
            self.reloaded = reloaded
        }
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
    /// Where bcrypt runs (tests look at its queue).
    let passwords: PasswordCheckPool
    /// The connections open, in all and by client (tests wait on them).
    let connections: ConnectionLimits

    /// The address actually bound (port 0 picks a free port).
    public var localPort: Int { channel.localAddress?.port ?? configuration.port }

    init(configuration: Configuration, registry: Registry, channel: any Channel, group: MultiThreadedEventLoopGroup, ownsGroup: Bool,
         passwords: PasswordCheckPool, connections: ConnectionLimits) {
        self.configuration = configuration
        self.passwords = passwords
        self.connections = connections
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
        // Checked before anything is registered, so that a wrong config leaves the registry as it was.
        do {
            try configuration.web.validate()
        } catch {
            throw MetricsServerError.webConfig(error)
        }
        let metrics = try ServerMetrics(registry: registry, watchesWebConfig: configuration.webConfigFile != nil)
        let verifier = configuration.passwordVerifier
        let webConfig: WebConfigWatcher
        do {
            webConfig = try WebConfigWatcher(
                initial: configuration.web, source: configuration.webConfigFile, metrics: metrics,
                tlsReloadFailed: configuration.tlsReloadFailed ?? { _ in }) { web in
                web.basicAuthUsers.isEmpty ? nil : ScrapeAuthentication(users: web.basicAuthUsers, verify: verifier)
            }
        } catch {
            throw MetricsServerError.webConfig(error)
        }
        let ownsGroup = group == nil
        let group = group ?? MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let passwords = PasswordCheckPool(threads: configuration.passwordCheckThreads, maxPending: configuration.maxPendingPasswordChecks)
        let throttle = AuthFailureThrottle(allowedFailures: configuration.authFailuresBeforeBackoff,
                                           initialWindow: configuration.authBackoff, maxWindow: configuration.maxAuthBackoff)
        let limits = ConnectionLimits(total: configuration.maxConnections, perClient: configuration.maxConnectionsPerClient)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let client = channel.remoteAddress?.ipAddress ?? "unknown"
                switch limits.admit(client) {
                case .total?:
                    metrics.rejectedTotal.inc()
                    return channel.close()
                case .perClient?:
                    metrics.rejectedPerClient.inc()
                    return channel.close()
                case nil:
                    break
                }
                channel.closeFuture.whenComplete { _ in limits.release(client) }
                let applied = webConfig.current()
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    // TLS first: everything after it, the limits included, sees plain HTTP.
                    if let tls = applied.tls { try pipeline.addHandler(tls.makeHandler()) }
                    try pipeline.addHandler(IdleStateHandler(readTimeout: configuration.idleTimeout))
                    let limiter = RequestHeadLimiter(
                        limit: configuration.maxHeaderBytes, timeout: configuration.requestHeadTimeout,
                        handshakeTimeout: configuration.tlsHandshakeTimeout, tls: applied.tls != nil) { stage in
                        switch stage {
                        case .tlsHandshake: metrics.handshakeTimeouts.inc()
                        case .requestHead: metrics.headTimeouts.inc()
                        }
                    }
                    try pipeline.addHandler(limiter)
                    try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                    try pipeline.addHandler(MetricsHandler(
                        registry: registry, configuration: configuration, webConfig: webConfig, passwords: passwords,
                        throttle: throttle, metrics: metrics, headLimiter: limiter, client: client))
                }
            }
        do {
            let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
            return MetricsServer(configuration: configuration, registry: registry, channel: channel, group: group, ownsGroup: ownsGroup,
                                 passwords: passwords, connections: limits)
        } catch {
            await passwords.shutdown()
            if ownsGroup { try? await group.shutdownGracefully() }
            throw MetricsServerError.bind(host: configuration.host, port: configuration.port, underlying: "\(error)")
        }
    }

    /// Stops accepting connections and closes the listening socket.
    public func stop() async throws {
        try await channel.close().get()
        await passwords.shutdown()
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
