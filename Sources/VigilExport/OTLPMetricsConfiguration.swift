import VigilSupport
import VigilTracing

/// Where, how and how often the registry is pushed as OTLP metrics, with the OpenTelemetry
/// metric exporter variables. Its description hides header values, which hold credentials.
public struct OTLPMetricsConfiguration: Sendable, CustomStringConvertible {
    /// Whether metrics are pushed at all. Off by default: Vigil's own metrics path is the
    /// Prometheus endpoint; `OTEL_METRICS_EXPORTER=otlp` or `otlp.metrics` in vigil.yml turns it on.
    public var enabled: Bool
    /// The full URL pushes are posted to, such as `http://127.0.0.1:4318/v1/metrics`.
    public var endpoint: String
    /// Extra headers (credentials among them: never logged).
    public var headers: [(name: String, value: String)]
    /// Whether bodies are sent gzip-compressed (`Content-Encoding: gzip`).
    public var gzip: Bool
    /// The longest one attempt may take (`OTEL_EXPORTER_OTLP_METRICS_TIMEOUT`).
    public var timeout: Duration
    /// The longest one push may take, its retries included (`OTEL_METRIC_EXPORT_TIMEOUT`).
    public var exportTimeout: Duration
    /// The time between the starts of two pushes (`OTEL_METRIC_EXPORT_INTERVAL`).
    public var interval: Duration
    /// Protobuf (the default) or JSON.
    public var encoding: OTLPConfiguration.Encoding
    /// What is tried again and how long it waits.
    public var retry: RetryPolicy
    /// How an `https` collector is verified, and the client certificate shown to it.
    public var tls: TLSClientConfiguration

    /// Off; when on, a local collector's default endpoint, protobuf, gzip, a 10 s attempt time-out,
    /// a 30 s export time-out and a 60 s interval, as the specification's defaults are.
    public init(enabled: Bool = false, endpoint: String = "http://localhost:4318/v1/metrics", headers: [(name: String, value: String)] = [],
                gzip: Bool = true, timeout: Duration = .seconds(10), exportTimeout: Duration = .seconds(30), interval: Duration = .seconds(60),
                encoding: OTLPConfiguration.Encoding = .protobuf, retry: RetryPolicy = RetryPolicy(), tls: TLSClientConfiguration = TLSClientConfiguration()) {
        self.enabled = enabled
        self.endpoint = endpoint
        self.headers = headers
        self.gzip = gzip
        self.timeout = timeout
        self.exportTimeout = exportTimeout
        self.interval = interval
        self.encoding = encoding
        self.retry = retry
        self.tls = tls
    }

    /// The same collector as the traces go to: `traces`' endpoint with `/v1/metrics` for
    /// `/v1/traces`, its headers, compression, time-out, protocol and TLS; off.
    public init(sameCollectorAs traces: OTLPConfiguration) {
        var endpoint = traces.tracesEndpoint
        if endpoint.hasSuffix("/v1/traces") { endpoint.removeLast("/v1/traces".count) }
        self.init(endpoint: endpoint + "/v1/metrics", headers: traces.headers, gzip: traces.gzip, timeout: traces.timeout,
                  encoding: traces.encoding, retry: traces.retry, tls: traces.tls)
    }

    public var description: String {
        let names = headers.map { "\($0.name): <redacted>" }.joined(separator: ", ")
        return "OTLPMetricsConfiguration(enabled: \(enabled), endpoint: \(Redaction.url(endpoint)), headers: [\(names)], gzip: \(gzip), "
            + "timeout: \(timeout), exportTimeout: \(exportTimeout), interval: \(interval), encoding: \(encoding.rawValue), retry: \(retry), tls: \(tls))"
    }

    /// What `OTEL_METRICS_EXPORTER` asks for: true for a list naming `otlp`, false for `none` (or
    /// only `prometheus`, which is the `/metrics` endpoint Vigil always serves), nil when unset.
    /// Throws for any other value, naming the ones understood.
    public static func exporterSetting(_ environment: [String: String]) throws(OTLPEnvironmentError) -> Bool? {
        guard let value = environment["OTEL_METRICS_EXPORTER"]?.trimmed(), !value.isEmpty else { return nil }
        let names = value.split(separator: ",").map { $0.trimmed().lowercased() }
        for name in names where !["otlp", "none", "prometheus"].contains(name) {
            throw OTLPEnvironmentError(variable: "OTEL_METRICS_EXPORTER",
                                       message: "\"\(name)\" is not an exporter Vigil has: use otlp (push to an OTLP collector) or none (Prometheus scrapes /metrics either way)")
        }
        return names.contains("otlp")
    }

    /// `base` overridden by the OpenTelemetry variables: `OTEL_METRICS_EXPORTER` (`otlp`, `none`;
    /// `OTEL_SDK_DISABLED=true` turns the export off whatever it says),
    /// `OTEL_METRIC_EXPORT_INTERVAL` and `OTEL_METRIC_EXPORT_TIMEOUT` (milliseconds),
    /// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (used as it is) or `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// (with `/v1/metrics` appended), and `OTEL_EXPORTER_OTLP_[METRICS_]HEADERS`, `_COMPRESSION`,
    /// `_TIMEOUT`, `_PROTOCOL`, `_CERTIFICATE`, `_CLIENT_CERTIFICATE`, `_CLIENT_KEY`. Values
    /// that do not parse are ignored, as the specification asks, except an unknown exporter name.
    public static func fromEnvironment(_ environment: [String: String] = ProcessEnvironment.all,
                                       base: OTLPMetricsConfiguration = OTLPMetricsConfiguration()) throws(OTLPEnvironmentError) -> OTLPMetricsConfiguration {
        var c = base
        if let enabled = try exporterSetting(environment) { c.enabled = enabled }
        if environment["OTEL_SDK_DISABLED"]?.trimmed().lowercased() == "true" { c.enabled = false }
        func milliseconds(_ name: String) -> Duration? {
            environment[name].flatMap { Int($0.trimmed()) }.flatMap { $0 > 0 ? .milliseconds($0) : nil }
        }
        if let interval = milliseconds("OTEL_METRIC_EXPORT_INTERVAL") { c.interval = interval }
        if let timeout = milliseconds("OTEL_METRIC_EXPORT_TIMEOUT") { c.exportTimeout = timeout }
        let read = OTLPEnvironment(environment, signal: "METRICS", path: "/v1/metrics")
        if let endpoint = read.endpoint { c.endpoint = endpoint }
        read.apply(to: &c)
        return c
    }
}

extension OTLPMetricsConfiguration: OTLPTransportSettings {}

/// An OpenTelemetry variable whose value cannot be used.
public struct OTLPEnvironmentError: Error, CustomStringConvertible, Sendable {
    public var variable: String
    public var message: String

    public var description: String { "\(variable): \(message)" }
}
