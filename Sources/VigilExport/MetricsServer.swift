import Dispatch
import NIOCore
import NIOHTTP1
import NIOPosix
import VigilContract
import VigilMetrics
import VigilSupport

/// Serves a registry to Prometheus over HTTP: `GET`/`HEAD /metrics` in text 0.0.4 or
/// OpenMetrics by `Accept`, gzip when `Accept-Encoding` allows, `/-/healthy`, `/-/ready` and a
/// landing page at `/`. Two lines for a host:
///
///     let server = try await MetricsServer.start(registry: registry)
///     // … later: try await server.stop()
public final class MetricsServer: Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 9464
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

        public init() {}
    }

    /// Credentials a scraper must present. Passwords and tokens are kept only as SHA-256 hashes.
    public enum Authentication: Sendable {
        /// `Authorization: Bearer <token>`; the hash is of the token, in lowercase hex.
        case bearer(tokenSHA256: String)
        /// `Authorization: Basic …`; the hash is of the password, in lowercase hex.
        case basic(username: String, passwordSHA256: String)
    }

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
        let connections = ManagedAtomicCounter()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                guard connections.increment() <= configuration.maxConnections else {
                    connections.decrement()
                    metrics.rejectedConnections.inc()
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in connections.decrement() }
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

public enum MetricsServerError: Error, CustomStringConvertible {
    case bind(host: String, port: Int, underlying: String)

    public var description: String {
        switch self {
        case let .bind(host, port, underlying):
            "cannot listen on \(host):\(port): \(underlying) (is another process using the port? choose another with listen: in the config)"
        }
    }
}

/// The server's own metrics.
struct ServerMetrics: Sendable {
    let requests: CounterFamily
    let duration: Histogram
    let rejectedConnections: Counter

    init(registry: Registry) throws {
        requests = try registry.register(VigilMetric.httpRequests)
        duration = try registry.register(VigilMetric.scrapeDuration).labels()
        rejectedConnections = try registry.register(VigilMetric.httpRejectedConnections).labels()
    }
}

final class ManagedAtomicCounter: @unchecked Sendable {
    private let value = Locked(0)
    func increment() -> Int { value.withLock { $0 += 1; return $0 } }
    func decrement() { value.withLock { $0 -= 1 } }
}

/// Answers 431 and closes when a request's head grows past the limit, before NIO parses it.
final class HeaderSizeLimiter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let limit: Int
    private var seen = 0
    private var inHead = true
    private var tail: [UInt8] = []

    init(limit: Int) { self.limit = limit }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if inHead {
            let bytes = buffer.readableBytesView
            seen += bytes.count
            // The head ends at the first blank line; scan the new bytes with the last three of before.
            let window = tail + bytes
            if let end = Self.findHeadEnd(window) {
                seen -= window.count - end
                inHead = false
            } else {
                tail = Array(window.suffix(3))
            }
            if seen > limit {
                let response = "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: response))).whenComplete { _ in context.close(promise: nil) }
                return
            }
        }
        context.fireChannelRead(data)
    }

    static func findHeadEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i + 4
        }
        return nil
    }
}

/// One HTTP/1.1 connection's requests.
final class MetricsHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let registry: Registry
    let configuration: MetricsServer.Configuration
    let metrics: ServerMetrics
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    private var tooLarge = false

    static let renderQueue = DispatchQueue(label: "vigil.metrics-render", attributes: .concurrent)

    init(registry: Registry, configuration: MetricsServer.Configuration, metrics: ServerMetrics) {
        self.registry = registry
        self.configuration = configuration
        self.metrics = metrics
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) } else { context.fireUserInboundEventTriggered(event) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            head = request
            bodyBytes = 0
            tooLarge = false
        case .body(let chunk):
            bodyBytes += chunk.readableBytes
            if bodyBytes > configuration.maxBodyBytes { tooLarge = true }
        case .end:
            guard let request = head else { return }
            head = nil
            if tooLarge {
                return respond(context, request, status: .payloadTooLarge, body: "request body too large\n", close: true)
            }
            route(context, request)
        }
    }

    private func route(_ context: ChannelHandlerContext, _ request: HTTPRequestHead) {
        let path = String(request.uri.split(separator: "?", maxSplits: 1).first ?? "")
        if !authorized(request) {
            var headers = HTTPHeaders()
            headers.add(name: "WWW-Authenticate", value: Self.challenge(configuration.auth))
            return respond(context, request, status: .unauthorized, body: "unauthorized\n", extraHeaders: headers)
        }
        guard request.method == .GET || request.method == .HEAD else {
            var headers = HTTPHeaders()
            headers.add(name: "Allow", value: "GET, HEAD")
            return respond(context, request, status: .methodNotAllowed, body: "method not allowed\n", extraHeaders: headers)
        }
        switch path {
        case configuration.metricsPath:
            scrape(context, request)
        case "/-/healthy":
            respond(context, request, status: .ok, body: "Healthy.\n")
        case "/-/ready":
            respond(context, request, status: .ok, body: "Ready.\n")
        case "/":
            let page = """
                <html><head><title>Vigil</title></head><body><h1>Vigil</h1>
                <p><a href="\(configuration.metricsPath)">Metrics</a> · <a href="/-/healthy">Health</a> · <a href="/-/ready">Readiness</a></p>
                </body></html>

                """
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "text/html; charset=utf-8")
            respond(context, request, status: .ok, body: page, extraHeaders: headers)
        default:
            respond(context, request, status: .notFound, body: "not found; metrics are at \(configuration.metricsPath)\n")
        }
    }

    /// Renders (and compresses) off the event loop, then answers on it.
    private func scrape(_ context: ChannelHandlerContext, _ request: HTTPRequestHead) {
        let format = ExpositionFormat.negotiate(accept: request.headers[canonicalForm: "accept"].joined(separator: ","))
        let gzip = Self.acceptsGzip(request.headers[canonicalForm: "accept-encoding"].joined(separator: ","))
        let registry = self.registry
        let metrics = self.metrics
        let loop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        let boundContext = NIOLoopBound(context, eventLoop: loop)
        Self.renderQueue.async {
            let start = ContinuousClock.now
            var body = registry.render(format)
            var compressed = false
            if gzip, let packed = try? Gzip.compress(body, level: 1) {
                body = packed
                compressed = true
            }
            metrics.duration.observe(start.duration(to: .now))
            loop.execute {
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: format.contentType)
                headers.add(name: "Vary", value: "Accept, Accept-Encoding")
                if compressed { headers.add(name: "Content-Encoding", value: "gzip") }
                handler.value.respond(boundContext.value, request, status: .ok, bytes: body, extraHeaders: headers)
            }
        }
    }

    static func acceptsGzip(_ header: String) -> Bool {
        for coding in header.split(separator: ",") {
            let parts = coding.split(separator: ";").map { $0.trimmed() }
            guard let name = parts.first?.lowercased(), name == "gzip" || name == "*" else { continue }
            let q = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return q > 0
        }
        return false
    }

    private func authorized(_ request: HTTPRequestHead) -> Bool {
        guard let auth = configuration.auth else { return true }
        let header = request.headers.first(name: "authorization") ?? ""
        switch auth {
        case .bearer(let hash):
            guard header.hasPrefix("Bearer ") else { return false }
            return SHA256.hex(Array(header.dropFirst(7).utf8)).constantTimeEquals(hash.lowercased())
        case .basic(let username, let hash):
            guard header.hasPrefix("Basic "), let decoded = Base64.decode(String(header.dropFirst(6))) else { return false }
            let text = String(decoding: decoded, as: UTF8.self)
            guard let colon = text.firstIndex(of: ":") else { return false }
            let userOK = String(text[..<colon]).constantTimeEquals(username)
            let passwordOK = SHA256.hex(Array(text[text.index(after: colon)...].utf8)).constantTimeEquals(hash.lowercased())
            return userOK && passwordOK
        }
    }

    static func challenge(_ auth: MetricsServer.Authentication?) -> String {
        if case .basic = auth { return "Basic realm=\"vigil\"" }
        return "Bearer realm=\"vigil\""
    }

    private func respond(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, status: HTTPResponseStatus, body: String,
                         extraHeaders: HTTPHeaders = HTTPHeaders(), close: Bool = false) {
        var headers = extraHeaders
        if !headers.contains(name: "Content-Type") { headers.add(name: "Content-Type", value: "text/plain; charset=utf-8") }
        respond(context, request, status: status, bytes: Array(body.utf8), extraHeaders: headers, close: close)
    }

    func respond(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, status: HTTPResponseStatus, bytes: [UInt8],
                 extraHeaders: HTTPHeaders, close: Bool = false) {
        let path = String(request.uri.split(separator: "?", maxSplits: 1).first ?? "")
        let known = [configuration.metricsPath, "/-/healthy", "/-/ready", "/"].contains(path) ? path : "other"
        metrics.requests.labels(known, String(status.code)).inc()
        var headers = extraHeaders
        headers.add(name: "Content-Length", value: String(bytes.count))
        let keepAlive = request.isKeepAlive && !close
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let head = HTTPResponseHead(version: request.version, status: status, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { done.whenComplete { _ in context.close(promise: nil) } }
    }
}
