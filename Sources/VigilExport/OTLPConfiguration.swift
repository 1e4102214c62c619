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
    /// signal-specific one when it is set and not empty, else the general one; nil when neither is.
    public static func variable(_ suffix: String, in environment: [String: String]) -> (name: String, value: String)? {
        for name in ["OTEL_EXPORTER_OTLP_TRACES_" + suffix, "OTEL_EXPORTER_OTLP_" + suffix] {
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
        func value(_ suffix: String) -> String? { variable(suffix, in: environment)?.value }
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
        for (suffix, field, _) in tlsVariables {
            if let path = value(suffix) { c.tls[keyPath: field] = path }
        }
        return c
    }
}
