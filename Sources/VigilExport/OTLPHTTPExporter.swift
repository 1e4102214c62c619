import VigilContract
import VigilMetrics
import VigilSupport
import VigilOTLP
import VigilTracing

/// Sends span batches to an OpenTelemetry collector over OTLP/HTTP
/// (https://opentelemetry.io/docs/specs/otlp/#otlphttp), gzip-compressed by default.
///
/// Responses are handled as the specification says: 2xx is delivered (a `partial_success`
/// counts its rejected spans); 429, 502, 503 and 504 and failed connections are retried with
/// exponential backoff and jitter, honouring `Retry-After`; any other status is final.
/// Runs on the batch processor's task, its transfers on the HTTP client's thread.
public final class OTLPHTTPExporter: SpanExporter {
    public let configuration: OTLPConfiguration
    let resource: TelemetryResource
    let scope: InstrumentationScope
    let client: HTTPClient
    let pushes: CounterFamily?
    private let lastError = Locked<String?>(nil)

    public init(configuration: OTLPConfiguration = .fromEnvironment(), resource: TelemetryResource,
                scope: InstrumentationScope = InstrumentationScope(), client: HTTPClient = HTTPClient(), registry: Registry? = nil) {
        self.configuration = configuration
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
        var body = configuration.encoding == .protobuf
            ? OTLPProtobuf.encode(batch, resource: resource, scope: scope)
            : OTLPJSON.encode(batch, resource: resource, scope: scope)
        var headers = configuration.headers
        headers.append(("Content-Type", configuration.encoding == .protobuf ? "application/x-protobuf" : "application/json"))
        if configuration.gzip, let compressed = try? Gzip.compress(body) {
            body = compressed
            headers.append(("Content-Encoding", "gzip"))
        }
        return HTTPRequest(method: "POST", url: configuration.tracesEndpoint, headers: headers, body: body, timeout: configuration.timeout)
    }

    private func send(_ batch: [SpanData]) async -> SpanExportResult {
        let request = request(for: batch)
        let policy = configuration.retry
        var attempt = 0
        while true {
            attempt += 1
            var wait: Duration
            do {
                let response = try await client.send(request)
                switch response.status {
                case 200..<300:
                    return Self.partialSuccess(response)
                case 429, 502, 503, 504:
                    let asked = response.header("Retry-After").flatMap { RetryAfter.delay($0, now: SystemClock.wallSeconds()) }
                    if let asked, asked > policy.maxRetryAfter {
                        return .failure(reason: "HTTP \(response.status) from \(Redaction.url(request.url)) asks to retry after \(asked), longer than \(policy.maxRetryAfter)")
                    }
                    wait = asked ?? policy.backoff(after: attempt)
                    if attempt >= policy.maxAttempts {
                        return .failure(reason: "HTTP \(response.status) from \(Redaction.url(request.url)) after \(attempt) attempts")
                    }
                default:
                    let detail = String(decoding: response.body.prefix(200), as: UTF8.self)
                    return .failure(reason: "HTTP \(response.status) from \(Redaction.url(request.url)), not retried: \(detail)")
                }
            } catch {
                guard error.isTransient, attempt < policy.maxAttempts else {
                    return .failure(reason: "\(error) after \(attempt) attempt(s)")
                }
                wait = policy.backoff(after: attempt)
            }
            do {
                try await Task.sleep(for: wait)
            } catch {
                return .failure(reason: "export cancelled while waiting to retry \(Redaction.url(request.url))")
            }
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
