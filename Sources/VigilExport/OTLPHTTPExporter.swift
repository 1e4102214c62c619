import VigilContract
import VigilMetrics
import VigilSupport
import VigilOTLP
import VigilTracing

/// Sends span batches to an OpenTelemetry collector over OTLP/HTTP
/// (https://opentelemetry.io/docs/specs/otlp/#otlphttp), gzip-compressed by default.
///
/// Responses are handled as the specification says: 2xx is delivered (a `partial_success`
/// counts its rejected spans); what is retried, and how long it waits, is `RetryPolicy`'s one
/// rule set, the Pushgateway client's too.
/// Runs on the batch processor's task, its transfers on the HTTP client's thread.
public final class OTLPHTTPExporter: SpanExporter {
    /// Where and how batches are sent.
    public let configuration: OTLPConfiguration
    let resource: TelemetryResource
    let scope: InstrumentationScope
    let client: HTTPClient
    let pushes: CounterFamily?
    let throttled: Counter?
    let throttle: EndpointThrottle
    private let lastError = Locked<String?>(nil)

    /// - Parameters:
    ///   - registry: where `vigil_push_total{target="otlp"}` and the time throttled by the
    ///     collector (`vigil_push_throttled_seconds_total`) are counted (nil: nowhere).
    ///   - throttle: where the collector's `Retry-After` holds are kept (the process's, by default).
    public init(configuration: OTLPConfiguration = .fromEnvironment(), resource: TelemetryResource,
                scope: InstrumentationScope = InstrumentationScope(), client: HTTPClient = HTTPClient(), registry: Registry? = nil,
                throttle: EndpointThrottle = .shared) {
        self.configuration = configuration
        self.throttle = throttle
        self.throttled = (try? registry?.register(VigilMetric.pushThrottled))?.labels("otlp")
        self.resource = resource
        self.scope = scope
        self.client = client
        self.pushes = try? registry?.register(VigilMetric.pushes)
        // Both results exist from the start, so that rate() and alerts see the first failure.
        for result in VigilMetric.Values.pushResult { _ = pushes?.labels("otlp", result) }
    }

    /// The last failure, for logs; never holds header values.
    public var lastFailure: String? { lastError.withLock { $0 } }

    public func export(_ batch: [SpanData]) async -> SpanExportResult {
        let result = await send(batch)
        if case .failure(let reason) = result { lastError.withLock { $0 = reason } }
        pushes?.labels("otlp", { if case .failure = result { "failure" } else { "success" } }()).inc()
        return result
    }

    public func shutdown() async {}

    func request(for batch: [SpanData]) -> HTTPRequest {
        let body = configuration.encoding == .protobuf
            ? OTLPProtobuf.encode(batch, resource: resource, scope: scope)
            : OTLPJSON.encode(batch, resource: resource, scope: scope)
        return HTTPRequest(otlp: body, to: configuration.tracesEndpoint, configuration)
    }

    private func send(_ batch: [SpanData]) async -> SpanExportResult {
        switch await configuration.retry.send(request(for: batch), with: client, throttle: throttle, throttled: throttled) {
        case .success(let response): Self.partialSuccess(response)
        case .failure(let error): .failure(reason: error.description)
        }
    }

    /// The result of a 2xx answer: delivered, or delivered in part (`partial_success`).
    static func partialSuccess(_ response: HTTPResponse) -> SpanExportResult {
        guard let (rejected, message) = OTLPResponse.partialSuccess(body: response.body, contentType: response.header("Content-Type")) else {
            return .success
        }
        return .partialSuccess(rejected: Int(clamping: rejected), message: message)
    }
}

extension HTTPRequest {
    /// An OTLP/HTTP export: `body` (encoded as `settings.encoding` says) posted to `url` with its
    /// content type and the configured headers, gzip-compressed when `settings.gzip` asks.
    init(otlp body: [UInt8], to url: String, _ settings: some OTLPTransportSettings) {
        var body = body
        var headers = settings.headers
        headers.append(("Content-Type", settings.encoding == .protobuf ? "application/x-protobuf" : "application/json"))
        if settings.gzip, let compressed = try? Gzip.compress(body) {
            body = compressed
            headers.append(("Content-Encoding", "gzip"))
        }
        self.init(method: "POST", url: url, headers: headers, body: body, timeout: settings.timeout, tls: settings.tls)
    }
}
