import VigilContract
import VigilMetrics
import VigilSupport

/// Pushes a registry to a Prometheus Pushgateway (https://github.com/prometheus/pushgateway):
/// `PUT` replaces the group's metrics, `POST` replaces only the metrics of the same names,
/// `DELETE` removes the group. The grouping key is the URL path `/metrics/job/<job>/<label>/<value>`,
/// with the `@base64` form for values that hold `/` or are empty.
public final class PushgatewayClient: Sendable {
    /// Where to push, under which grouping key, and how.
    public struct Configuration: Sendable {
        /// The Pushgateway's base URL, such as `http://127.0.0.1:9091`.
        public var url: String
        /// The `job` label of the grouping key.
        public var job: String
        /// Further grouping labels, such as `instance`.
        public var grouping: [(name: String, value: String)]
        /// Credentials sent with every push.
        public var auth: PushAuthentication?
        /// How an `https` Pushgateway is verified, and the client certificate shown to it.
        public var tls = TLSClientConfiguration()
        /// Whether bodies are sent gzip-compressed.
        public var gzip = true
        /// The longest one attempt may take.
        public var timeout: Duration = .seconds(10)
        /// What is tried again and how long it waits.
        public var retry = RetryPolicy()

        /// A configuration with gzip, a 10 s time-out and the default retries.
        public init(url: String, job: String, grouping: [(name: String, value: String)] = [], auth: PushAuthentication? = nil) {
            self.url = url
            self.job = job
            self.grouping = grouping
            self.auth = auth
        }
    }

    /// How a push treats the group's metrics: `PUT` replaces them all, `POST` only those of the same
    /// names, `DELETE` removes the group.
    public enum Method: String, Sendable { case put = "PUT", post = "POST", delete = "DELETE" }

    /// Where and how pushes go.
    public let configuration: Configuration
    let registry: Registry
    let client: HTTPClient
    let pushes: CounterFamily?
    let throttled: Counter?
    let throttle: EndpointThrottle

    /// - Parameters:
    ///   - metricsRegistry: where `vigil_push_total{target="pushgateway"}` and the time throttled
    ///     by the Pushgateway (`vigil_push_throttled_seconds_total`) are counted (by default, the
    ///     registry pushed).
    ///   - throttle: where the Pushgateway's `Retry-After` holds are kept (the process's, by default).
    public init(configuration: Configuration, registry: Registry, metricsRegistry: Registry? = nil,
                client: HTTPClient = HTTPClient(maximumBodyBytes: 64 * 1024), throttle: EndpointThrottle = .shared) {
        self.configuration = configuration
        self.throttle = throttle
        self.throttled = (try? (metricsRegistry ?? registry).register(VigilMetric.pushThrottled))?.labels("pushgateway")
        self.registry = registry
        self.client = client
        self.pushes = try? (metricsRegistry ?? registry).register(VigilMetric.pushes)
        for result in VigilMetric.Values.pushResult { _ = pushes?.labels("pushgateway", result) }
    }

    /// The grouping key as a URL path.
    public var groupingURL: String {
        var url = configuration.url.hasSuffix("/") ? String(configuration.url.dropLast()) : configuration.url
        url += "/metrics/job" + Self.segment(configuration.job, name: "job", valuePrefix: "/")
        for (name, value) in configuration.grouping {
            url += "/" + name + Self.segment(value, name: name, valuePrefix: "/")
        }
        return url
    }

    /// A path segment for a label value: plain when safe, else `name@base64/` with URL-safe base64
    /// (an empty value is `=`, as the Pushgateway documents).
    static func segment(_ value: String, name: String, valuePrefix: String = "") -> String {
        let safe = !value.isEmpty && value.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E
        }
        if safe { return valuePrefix + value }
        let encoded = value.isEmpty ? "=" : Base64.encode(Array(value.utf8), urlSafe: true, padding: false)
        return "@base64" + "/" + encoded
    }

    /// Pushes once with `method`, trying again as `configuration.retry` says (`RetryPolicy`).
    @discardableResult
    public func push(_ method: Method = .put) async -> Result<Void, PushError> {
        await push(method, retry: configuration.retry)
    }

    private func push(_ method: Method, retry: RetryPolicy) async -> Result<Void, PushError> {
        var headers: [(name: String, value: String)] = []
        var body: [UInt8] = []
        if method != .delete {
            body = registry.render(.text)
            headers.append(("Content-Type", ExpositionFormat.text.contentType))
            if configuration.gzip, let packed = try? Gzip.compress(body) {
                body = packed
                headers.append(("Content-Encoding", "gzip"))
            }
        }
        if let auth = configuration.auth { headers.append(("Authorization", auth.headerValue)) }
        let request = HTTPRequest(method: method.rawValue, url: groupingURL, headers: headers, body: body, timeout: configuration.timeout, tls: configuration.tls)
        let result = await retry.send(request, with: client, throttle: throttle, throttled: throttled).map { _ in () }
        pushes?.labels("pushgateway", (try? result.get()) != nil ? "success" : "failure").inc()
        return result
    }

    /// Pushes every `interval` until the task is cancelled, then once more, so that a short job's
    /// last values are not lost. Cancelling abandons a push in flight at once. The last push is
    /// one attempt, with no retries (a shutdown has no time to wait for them), in a task of its
    /// own, which that cancellation does not reach; it is abandoned in turn after
    /// `finalPushTimeout` (give it what is left of a shutdown's grace period).
    ///
    /// `finalPushTimeout` is read when the last push starts, so a caller can hand over what is
    /// left of its shutdown deadline at that moment. The last push too waits for a hold on the
    /// endpoint (`EndpointThrottle`): a gateway that asked to wait longer than that never gets it.
    public func run(every interval: Duration, method: Method = .put,
                    finalPushTimeout: @autoclosure @escaping @Sendable () -> Duration = .seconds(10),
                    onFailure: (@Sendable (PushError) -> Void)? = nil) async {
        while !Task.isCancelled {
            if case .failure(let error) = await push(method) { onFailure?(error) }
            do { try await Task.sleep(for: interval) } catch { break }
        }
        var once = configuration.retry
        once.maxAttempts = 1
        let outcome = await withCancellation(after: finalPushTimeout()) { [once] in await self.push(method, retry: once) }
        if case .failure(let error) = outcome { onFailure?(error) }
    }
}

/// Credentials for a push target. Never logged: its descriptions hide the password and token.
public enum PushAuthentication: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// `Authorization: Basic base64(username:password)`.
    case basic(username: String, password: String)
    /// `Authorization: Bearer token`.
    case bearer(token: String)

    /// The value of the `Authorization` header it sends.
    public var headerValue: String {
        switch self {
        case let .basic(username, password): "Basic " + Base64.encode(Array("\(username):\(password)".utf8))
        case let .bearer(token): "Bearer " + token
        }
    }

    /// `basic(username: "pusher", password: <redacted>)` or `bearer(token: <redacted>)`.
    public var description: String {
        switch self {
        case let .basic(username, _): "basic(username: \"\(username)\", password: <redacted>)"
        case .bearer: "bearer(token: <redacted>)"
        }
    }

    public var debugDescription: String { description }
}
