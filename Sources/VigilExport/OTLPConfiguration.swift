import VigilSupport
import VigilTracing

/// Where and how trace batches are sent, with the OpenTelemetry exporter variables. Its
/// description hides header values, which hold credentials.
public struct OTLPConfiguration: Sendable, CustomStringConvertible {
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
    /// How an `https` collector is verified, and the client certificate shown to it.
    public var tls: TLSClientConfiguration

    /// A local collector's default endpoint, protobuf, gzip, a 10 s time-out, the default retries
    /// and the system's CAs.
    public init(tracesEndpoint: String = "http://localhost:4318/v1/traces", headers: [(name: String, value: String)] = [],
                gzip: Bool = true, timeout: Duration = .seconds(10), encoding: Encoding = .protobuf, retry: RetryPolicy = RetryPolicy(),
                tls: TLSClientConfiguration = TLSClientConfiguration()) {
        self.tracesEndpoint = tracesEndpoint
        self.headers = headers
        self.gzip = gzip
        self.timeout = timeout
        self.encoding = encoding
        self.retry = retry
        self.tls = tls
    }

    /// The variables that name TLS files, each with the field it sets; the signal-specific form
    /// (`OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`, …) wins over the general one.
    public static let tlsVariables: [(suffix: String, field: any WritableKeyPath<TLSClientConfiguration, String?> & Sendable, content: TLSClientConfiguration.PEMContent)] = [
        ("CERTIFICATE", \.caFile, .certificate),
        ("CLIENT_CERTIFICATE", \.certFile, .certificate),
        ("CLIENT_KEY", \.keyFile, .privateKey),
    ]

    /// The variable that sets `suffix` (`CERTIFICATE`, `HEADERS`, …) in `environment`: the
    /// signal-specific one (`OTEL_EXPORTER_OTLP_TRACES_…`, or `_METRICS_…` with `signal`) when it
    /// is set and not empty, else the general one; nil when neither is.
    public static func variable(_ suffix: String, in environment: [String: String], signal: String = "TRACES") -> (name: String, value: String)? {
        for name in ["OTEL_EXPORTER_OTLP_\(signal)_" + suffix, "OTEL_EXPORTER_OTLP_" + suffix] {
            if let value = environment[name], !value.isEmpty { return (name, value) }
        }
        return nil
    }

    public var description: String {
        let names = headers.map { "\($0.name): <redacted>" }.joined(separator: ", ")
        return "OTLPConfiguration(tracesEndpoint: \(Redaction.url(tracesEndpoint)), headers: [\(names)], gzip: \(gzip), "
            + "timeout: \(timeout), encoding: \(encoding.rawValue), retry: \(retry), tls: \(tls))"
    }

    /// The defaults overridden by the OpenTelemetry variables: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
    /// (used as it is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (with `/v1/traces` appended),
    /// `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS`, `_COMPRESSION` (`gzip` or `none`), `_TIMEOUT`
    /// (milliseconds), `_PROTOCOL`, and the TLS files `_CERTIFICATE` (the CA), `_CLIENT_CERTIFICATE`
    /// and `_CLIENT_KEY` (`tlsVariables`). Values that do not parse are ignored, as the
    /// specification asks; the signal-specific variable wins over the general one. The files are
    /// not read here: `TLSClientConfiguration.problem(reading:as:)` checks them.
    public static func fromEnvironment(_ environment: [String: String] = ProcessEnvironment.all, base: OTLPConfiguration = OTLPConfiguration()) -> OTLPConfiguration {
        var c = base
        let read = OTLPEnvironment(environment, signal: "TRACES", path: "/v1/traces")
        if let endpoint = read.endpoint { c.tracesEndpoint = endpoint }
        read.apply(to: &c)
        return c
    }
}

/// What the trace and the metric configurations both have, which the exporter variables set.
protocol OTLPTransportSettings {
    var headers: [(name: String, value: String)] { get set }
    var gzip: Bool { get set }
    var timeout: Duration { get set }
    var encoding: OTLPConfiguration.Encoding { get set }
    var tls: TLSClientConfiguration { get set }
}

extension OTLPConfiguration: OTLPTransportSettings {}

/// The OTLP exporter variables of one signal (`TRACES`, `METRICS`), each nil when not set or
/// not understood (the specification asks that such values be ignored); the signal-specific
/// variable wins over the general one.
struct OTLPEnvironment {
    let environment: [String: String]
    let signal: String
    /// The path the general endpoint is given (`/v1/traces`).
    let path: String

    init(_ environment: [String: String], signal: String, path: String) {
        self.environment = environment
        self.signal = signal
        self.path = path
    }

    func value(_ suffix: String) -> String? { OTLPConfiguration.variable(suffix, in: environment, signal: signal)?.value }

    /// `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` as it is, else `OTEL_EXPORTER_OTLP_ENDPOINT` with the
    /// signal's path appended, as the specification says.
    var endpoint: String? {
        if let endpoint = environment["OTEL_EXPORTER_OTLP_\(signal)_ENDPOINT"], !endpoint.isEmpty { return endpoint }
        guard let endpoint = environment["OTEL_EXPORTER_OTLP_ENDPOINT"], !endpoint.isEmpty else { return nil }
        return (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint) + path
    }

    /// `name=value,…`, values percent-decoded; pairs without `=` or a name are skipped.
    var headers: [(name: String, value: String)]? {
        value("HEADERS").map { headers in
            headers.split(separator: ",").compactMap { pair in
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { return nil }
                let name = String(parts[0].trimmed())
                return name.isEmpty ? nil : (name, parts[1].trimmed().percentDecoded)
            }
        }
    }

    /// `gzip` or `none`.
    var gzip: Bool? {
        switch value("COMPRESSION") {
        case "gzip": true
        case "none": false
        default: nil
        }
    }

    /// Milliseconds, above zero.
    var timeout: Duration? {
        value("TIMEOUT").flatMap { Int($0) }.flatMap { $0 > 0 ? .milliseconds($0) : nil }
    }

    var encoding: OTLPConfiguration.Encoding? { value("PROTOCOL").flatMap(OTLPConfiguration.Encoding.init(rawValue:)) }

    /// Sets what `_HEADERS`, `_COMPRESSION`, `_TIMEOUT`, `_PROTOCOL` and the TLS files
    /// (`_CERTIFICATE`, `_CLIENT_CERTIFICATE`, `_CLIENT_KEY`) say, leaving the rest as it is.
    func apply(to c: inout some OTLPTransportSettings) {
        if let headers { c.headers = headers }
        if let gzip { c.gzip = gzip }
        if let timeout { c.timeout = timeout }
        if let encoding { c.encoding = encoding }
        for (suffix, field, _) in OTLPConfiguration.tlsVariables {
            if let path = value(suffix) { c.tls[keyPath: field] = path }
        }
    }
}
