@_spi(VigilInternal) import VigilMetrics
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
        self.pushes = try? registry?.counter(
            "vigil_push_total", help: "Pushes to a Pushgateway or an OTLP collector, by target and result.", labelNames: ["target", "result"])
        // Both results exist from the start, so that rate() and alerts see the first failure.
        for result in ["success", "failure"] { _ = pushes?.labels("otlp", result) }
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
                    let asked = response.header("Retry-After").flatMap { RetryAfter.delay($0, now: Double(wallClockNanoseconds()) / 1e9) }
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

    /// Reads `ExportTraceServiceResponse.partial_success` (field 1) from a protobuf or JSON body.
    static func partialSuccess(_ response: HTTPResponse) -> SpanExportResult {
        let body = response.body
        guard !body.isEmpty else { return .success }
        var rejected: Int64 = 0
        var message = ""
        if response.header("Content-Type")?.contains("json") == true || body.first == UInt8(ascii: "{") {
            let text = String(decoding: body, as: UTF8.self)
            rejected = JSONScan.integer(after: "\"rejectedSpans\"", in: text) ?? 0
            message = JSONScan.string(after: "\"errorMessage\"", in: text) ?? ""
        } else {
            var reader = ProtobufReader(body[...])
            while let (field, value) = reader.next() {
                guard field == 1, case .bytes(let partial) = value else { continue }
                var inner = ProtobufReader(partial)
                while let (f, v) = inner.next() {
                    if f == 1, case .varint(let n) = v { rejected = Int64(bitPattern: n) }  // rejected_spans = 1
                    if f == 2, case .bytes(let text) = v { message = String(decoding: text, as: UTF8.self) }  // error_message = 2
                }
            }
        }
        if rejected == 0 && message.isEmpty { return .success }
        return .partialSuccess(rejected: Int(rejected), message: message)
    }
}

/// Just enough protobuf reading for a collector's response.
struct ProtobufReader {
    enum Value { case varint(UInt64), bytes(ArraySlice<UInt8>), fixed }
    var data: ArraySlice<UInt8>

    init(_ data: ArraySlice<UInt8>) { self.data = data }

    mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = data.popFirst() {
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }

    mutating func next() -> (Int, Value)? {
        guard let key = varint() else { return nil }
        switch key & 7 {
        case 0: return varint().map { (Int(key >> 3), .varint($0)) }
        case 1: guard data.count >= 8 else { return nil }; data = data.dropFirst(8); return (Int(key >> 3), .fixed)
        case 5: guard data.count >= 4 else { return nil }; data = data.dropFirst(4); return (Int(key >> 3), .fixed)
        case 2:
            guard let length = varint(), length <= data.count else { return nil }
            let bytes = data.prefix(Int(length))
            data = data.dropFirst(Int(length))
            return (Int(key >> 3), .bytes(bytes))
        default: return nil
        }
    }
}

/// Finds a field's value in a small JSON document without a JSON parser.
enum JSONScan {
    static func integer(after key: String, in text: String) -> Int64? {
        guard let rest = value(after: key, in: text) else { return nil }
        let digits = rest.drop { $0 == "\"" }.prefix { $0.isNumber || $0 == "-" }
        return Int64(digits)
    }

    static func string(after key: String, in text: String) -> String? {
        guard let rest = value(after: key, in: text), rest.first == "\"" else { return nil }
        return String(rest.dropFirst().prefix { $0 != "\"" })
    }

    private static func value(after key: String, in text: String) -> Substring? {
        guard let start = text.firstRange(of: key)?.upperBound else { return nil }
        var rest = text[start...].drop { $0 == " " }
        guard rest.first == ":" else { return nil }
        rest = rest.dropFirst().drop { $0 == " " }
        return rest
    }
}
