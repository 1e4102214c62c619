import VigilSupport
import VigilTracing

/// Where and how trace batches are sent, with the OpenTelemetry exporter variables.
public struct OTLPConfiguration: Sendable {
    /// The request body format, named as `OTEL_EXPORTER_OTLP_PROTOCOL` names it.
    public enum Encoding: String, Sendable {
        case protobuf = "http/protobuf"
        case json = "http/json"
    }

    /// The full URL batches are posted to, such as `http://127.0.0.1:4318/v1/traces`.
    public var tracesEndpoint: String
    /// Extra headers (credentials among them: never logged).
    public var headers: [(name: String, value: String)]
    /// Whether bodies are sent gzip-compressed (`Content-Encoding: gzip`).
    public var gzip: Bool
    /// The longest one attempt may take.
    public var timeout: Duration
    /// Protobuf (the default) or JSON.
    public var encoding: Encoding
    /// What is tried again and how long it waits.
    public var retry: RetryPolicy

    /// A local collector's default endpoint, protobuf, gzip, a 10 s time-out and the default retries.
    public init(tracesEndpoint: String = "http://localhost:4318/v1/traces", headers: [(name: String, value: String)] = [],
                gzip: Bool = true, timeout: Duration = .seconds(10), encoding: Encoding = .protobuf, retry: RetryPolicy = RetryPolicy()) {
        self.tracesEndpoint = tracesEndpoint
        self.headers = headers
        self.gzip = gzip
        self.timeout = timeout
        self.encoding = encoding
        self.retry = retry
    }

    /// The defaults overridden by the OpenTelemetry variables: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
    /// (used as it is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (with `/v1/traces` appended),
    /// `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS`, `_COMPRESSION` (`gzip` or `none`), `_TIMEOUT`
    /// (milliseconds) and `_PROTOCOL`. Values that do not parse are ignored, as the
    /// specification asks; the signal-specific variable wins over the general one.
    public static func fromEnvironment(_ environment: [String: String] = ProcessEnvironment.all, base: OTLPConfiguration = OTLPConfiguration()) -> OTLPConfiguration {
        var c = base
        func value(_ name: String) -> String? {
            let specific = environment["OTEL_EXPORTER_OTLP_TRACES_" + name]
            return (specific?.isEmpty == false ? specific : nil) ?? environment["OTEL_EXPORTER_OTLP_" + name].flatMap { $0.isEmpty ? nil : $0 }
        }
        if let endpoint = environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], !endpoint.isEmpty {
            c.tracesEndpoint = endpoint
        } else if let endpoint = environment["OTEL_EXPORTER_OTLP_ENDPOINT"], !endpoint.isEmpty {
            c.tracesEndpoint = (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint) + "/v1/traces"
        }
        if let headers = value("HEADERS") {
            c.headers = headers.split(separator: ",").compactMap { pair in
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { return nil }
                let name = String(parts[0].trimmed())
                return name.isEmpty ? nil : (name, parts[1].trimmed().percentDecoded)
            }
        }
        switch value("COMPRESSION") {
        case "gzip": c.gzip = true
        case "none": c.gzip = false
        default: break
        }
        if let ms = value("TIMEOUT").flatMap({ Int($0) }), ms > 0 { c.timeout = .milliseconds(ms) }
        if let encoding = value("PROTOCOL").flatMap(Encoding.init(rawValue:)) { c.encoding = encoding }
        return c
    }
}
