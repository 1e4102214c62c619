import Dispatch
import NIOCore
import NIOHTTP1
import VigilMetrics
import VigilSupport

/// One HTTP/1.1 connection's requests: checks credentials (bcrypt in the `PasswordCheckPool`,
/// addresses that keep failing backed off by the `AuthFailureThrottle`) and method, routes by
/// path, renders scrapes and runs reloads off the event loop and writes the responses.
final class MetricsHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let registry: Registry
    let configuration: MetricsServer.Configuration
    /// The web config now (users, headers, probes), re-read when its file changes.
    let webConfig: WebConfigWatcher
    let passwords: PasswordCheckPool
    let throttle: AuthFailureThrottle
    let metrics: ServerMetrics
    /// Told when a request has ended, so that it bounds the next head.
    let headLimiter: RequestHeadLimiter
    /// The client's address, what the throttle counts failures by.
    let client: String
    /// The web config the current request is answered under.
    private var web: WebConfig
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    private var tooLarge = false

    /// Rendering and compressing a large registry takes milliseconds: never on the event loop.
    static let renderQueue = DispatchQueue(label: "vigil.metrics-render", attributes: .concurrent)

    init(registry: Registry, configuration: MetricsServer.Configuration, webConfig: WebConfigWatcher, passwords: PasswordCheckPool,
         throttle: AuthFailureThrottle, metrics: ServerMetrics, headLimiter: RequestHeadLimiter, client: String) {
        self.registry = registry
        self.configuration = configuration
        self.webConfig = webConfig
        self.passwords = passwords
        self.throttle = throttle
        self.metrics = metrics
        self.headLimiter = headLimiter
        self.client = client
        self.web = configuration.web
    }

    /// A failed TLS handshake or a broken connection: nothing more can be said on it.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
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
            headLimiter.requestEnded()
            guard let request = head else { return }
            head = nil
            if tooLarge {
                return respond(context, request, status: .payloadTooLarge, body: "request body too large\n", close: true)
            }
            route(context, request)
        }
    }

    /// Checks credentials first: a cached or absent check, or a probe the web config leaves open,
    /// routes at once; an address backed off for failing gets 429 and a full bcrypt queue 503,
    /// without bcrypt; otherwise a bcrypt round runs in the pool (it takes tens of milliseconds),
    /// then routes or answers 401 on the event loop.
    private func route(_ context: ChannelHandlerContext, _ request: HTTPRequestHead) {
        let applied = webConfig.current()
        web = applied.web
        guard let auth = applied.auth else { return routeAuthenticated(context, request) }
        if web.unauthenticatedProbes, request.method == .GET || request.method == .HEAD,
           ["/-/healthy", "/-/ready"].contains(Self.path(request)) {
            return routeAuthenticated(context, request)
        }
        switch auth.check(authorization: request.headers.first(name: "authorization")) {
        case .accepted:
            routeAuthenticated(context, request)
        case .rejected:
            unauthorized(context, request)
        case .verify(let bcrypt):
            if let wait = throttle.blocked(client) {
                metrics.throttled.inc()
                var headers = HTTPHeaders()
                headers.add(name: "Retry-After", value: String(Int(wait.rounded(.up))))
                return respond(context, request, status: .tooManyRequests,
                               body: "Too Many Requests: too many wrong passwords from this address; retry later\n", extraHeaders: headers)
            }
            let loop = context.eventLoop
            guard let checked = passwords.submit(on: loop, bcrypt) else {
                metrics.busy.inc()
                var headers = HTTPHeaders()
                headers.add(name: "Retry-After", value: "1")
                return respond(context, request, status: .serviceUnavailable,
                               body: "Service Unavailable: too many password checks queued; retry later\n", extraHeaders: headers)
            }
            let handler = NIOLoopBound(self, eventLoop: loop)
            let boundContext = NIOLoopBound(context, eventLoop: loop)
            let throttle = self.throttle, client = self.client, metrics = self.metrics
            checked.whenComplete { result in
                if (try? result.get()) == true {
                    throttle.succeeded(client)
                    handler.value.routeAuthenticated(boundContext.value, request)
                } else {
                    throttle.failed(client)
                    metrics.wrongCredentials.inc()
                    handler.value.unauthorized(boundContext.value, request)
                }
            }
        }
    }

    /// 401 with the Basic challenge (RFC 9110 §11.6.1).
    private func unauthorized(_ context: ChannelHandlerContext, _ request: HTTPRequestHead) {
        var headers = HTTPHeaders()
        headers.add(name: "WWW-Authenticate", value: ScrapeAuthentication.challenge)
        respond(context, request, status: .unauthorized, body: "Unauthorized\n", extraHeaders: headers)
    }

    private func routeAuthenticated(_ context: ChannelHandlerContext, _ request: HTTPRequestHead) {
        let path = Self.path(request)
        if path == Self.reloadPath { return lifecycle(context, request) }
        guard request.method == .GET || request.method == .HEAD else {
            return methodNotAllowed(context, request, allow: "GET, HEAD", body: "method not allowed\n")
        }
        switch path {
        case configuration.metricsPath:
            scrape(context, request)
        case "/-/healthy":
            respond(context, request, status: .ok, body: "Healthy.\n")
        case "/-/ready":
            if let reason = configuration.ready?() {
                respond(context, request, status: .serviceUnavailable, body: "Service Unavailable: \(reason).\n")
            } else {
                respond(context, request, status: .ok, body: "Ready.\n")
            }
        case "/":
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "text/html; charset=utf-8")
            respond(context, request, status: .ok, body: landingPage, extraHeaders: headers)
        default:
            respond(context, request, status: .notFound, body: "not found; metrics are at \(configuration.metricsPath)\n")
        }
    }

    /// Where the lifecycle API's reload is, as in Prometheus.
    static let reloadPath = "/-/reload"

    /// `/-/reload`, answered as Prometheus answers it: `POST` or `PUT` runs the reload hook (403
    /// without one), any other method gets 405.
    private func lifecycle(_ context: ChannelHandlerContext, _ request: HTTPRequestHead) {
        guard request.method == .POST || request.method == .PUT else {
            return methodNotAllowed(context, request, allow: "POST, PUT", body: "Only POST or PUT requests allowed\n")
        }
        guard let reload = configuration.reload else {
            return respond(context, request, status: .forbidden, body: "Lifecycle API is not enabled.\n")
        }
        let loop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        let boundContext = NIOLoopBound(context, eventLoop: loop)
        Task {
            let result = await reload()
            loop.execute {
                switch result {
                case .reloaded(let message):
                    handler.value.respond(boundContext.value, request, status: .ok, body: message)
                case .failed(let reason):
                    handler.value.respond(boundContext.value, request, status: .internalServerError, body: "failed to reload config: \(reason)\n")
                }
            }
        }
    }

    /// 405, with the methods the path takes in `Allow` (RFC 9110 §15.5.6).
    private func methodNotAllowed(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, allow: String, body: String) {
        var headers = HTTPHeaders()
        headers.add(name: "Allow", value: allow)
        respond(context, request, status: .methodNotAllowed, body: body, extraHeaders: headers)
    }

    /// The page at `/`: links to the metrics and the health endpoints.
    private var landingPage: String {
        """
        <html><head><title>Vigil</title></head><body><h1>Vigil</h1>
        <p><a href="\(configuration.metricsPath)">Metrics</a> · <a href="/-/healthy">Health</a> · <a href="/-/ready">Readiness</a></p>
        </body></html>

        """
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
            let text = registry.render(format)
            let packed = gzip ? try? Gzip.compress(text, level: 1) : nil
            metrics.duration.observe(start.duration(to: .now))
            loop.execute {
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: format.contentType)
                headers.add(name: "Vary", value: "Accept, Accept-Encoding")
                if packed != nil { headers.add(name: "Content-Encoding", value: "gzip") }
                handler.value.respond(boundContext.value, request, status: .ok, bytes: packed ?? text, extraHeaders: headers)
            }
        }
    }

    /// Whether an `Accept-Encoding` value admits gzip (`gzip` or `*` with a non-zero q).
    static func acceptsGzip(_ header: String) -> Bool {
        for coding in header.split(separator: ",") {
            let parts = coding.split(separator: ";").map { $0.trimmed() }
            guard let name = parts.first?.lowercased(), name == "gzip" || name == "*" else { continue }
            let q = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return q > 0
        }
        return false
    }

    /// The request's path, without its query.
    private static func path(_ request: HTTPRequestHead) -> String {
        String(request.uri.split(separator: "?", maxSplits: 1).first ?? "")
    }

    private func respond(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, status: HTTPResponseStatus, body: String,
                         extraHeaders: HTTPHeaders = HTTPHeaders(), close: Bool = false) {
        var headers = extraHeaders
        if !headers.contains(name: "Content-Type") { headers.add(name: "Content-Type", value: "text/plain; charset=utf-8") }
        respond(context, request, status: status, bytes: Array(body.utf8), extraHeaders: headers, close: close)
    }

    /// Writes one whole response and counts it; closes the connection when the request asked
    /// for it or `close` is set.
    func respond(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, status: HTTPResponseStatus, bytes: [UInt8],
                 extraHeaders: HTTPHeaders, close: Bool = false) {
        let path = Self.path(request)
        let known = [configuration.metricsPath, "/-/healthy", "/-/ready", Self.reloadPath, "/"].contains(path) ? path : "other"
        metrics.requests.labels(known, String(status.code)).inc()
        var headers = extraHeaders
        for header in web.headers { headers.add(name: header.name, value: header.value) }
        headers.add(name: "Content-Length", value: String(bytes.count))
        let keepAlive = request.isKeepAlive && !close
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let head = HTTPResponseHead(version: request.version, status: status, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { done.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }
}
