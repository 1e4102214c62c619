import Vigil
import VigilSupport

// The checks the file's values and the variables that override them share, so that a variable
// never skips one: a metrics path, a Pushgateway URL, header names and values (no line break can
// reach the wire), and the OpenTelemetry timeouts and intervals against the file's floors and
// ceilings (DurationRange).
extension SidecarConfig {
    /// Why `path` cannot be the metrics endpoint's path; nil when it can.
    static func metricsPathProblem(_ path: String) -> String? {
        guard path.hasPrefix("/"), path.count > 1 else { return "\"\(path)\" must start with / (try /metrics)" }
        guard isOneLine(path), !path.contains(" ") else { return "holds a space, a line break or a control character (try /metrics)" }
        return nil
    }

    /// Why `url` cannot be a Pushgateway's URL; nil when it can.
    static func pushgatewayURLProblem(_ url: String) -> String? {
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            return "needs an http:// or https:// URL (try http://127.0.0.1:9091)"
        }
        guard isOneLine(url), !url.contains(" ") else { return "holds a space, a line break or a control character; percent-encode it (%20)" }
        return nil
    }

    /// Why `name` cannot be an HTTP header's name (RFC 9110 5.1: a token); nil when it can.
    static func headerNameProblem(_ name: String) -> String? {
        let token = name.utf8.allSatisfy { b in
            (b >= 0x21 && b <= 0x7E) && !"\"(),/:;<=>?@[\\]{}".utf8.contains(b)
        }
        return token ? nil : "\"\(name.prefix(64).filter { isOneLine(String($0)) })\" is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)"
    }

    /// Whether `text` can go into a header as it is: no line break, no control character.
    static func isOneLine(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }
    }

    /// `OTEL_EXPORTER_OTLP_[SIGNAL_]HEADERS` and `_TIMEOUT`, as the file's `headers:` and
    /// `timeout:` are checked: names that are tokens, values on one line (the error never quotes
    /// a value: it may be a secret), a timeout inside `DurationRange.timeout`.
    static func checkOTLPVariables(_ environment: [String: String], signal: String, headers: [(name: String, value: String)],
                                   timeout: Duration) throws(ConfigError) {
        if let (variable, _) = OTLPConfiguration.variable("HEADERS", in: environment, signal: signal) {
            for (name, value) in headers {
                if let problem = headerNameProblem(name) { throw ConfigError(file: "environment", line: nil, path: variable, message: problem) }
                guard isOneLine(value) else {
                    throw ConfigError(file: "environment", line: nil, path: variable,
                                      message: "the value of header \"\(name)\" holds a line break or control character (%0D, %0A and the like); it should hold the value alone, on one line")
                }
            }
        }
        if let (variable, text) = OTLPConfiguration.variable("TIMEOUT", in: environment, signal: signal) {
            try checkMilliseconds(variable, text, timeout, .timeout)
        }
    }

    /// `OTEL_METRIC_EXPORT_INTERVAL` and `OTEL_METRIC_EXPORT_TIMEOUT` against the file's bounds.
    static func checkMetricExportVariables(_ environment: [String: String], _ metrics: OTLPMetricsConfiguration) throws(ConfigError) {
        if let text = environment["OTEL_METRIC_EXPORT_INTERVAL"] {
            try checkMilliseconds("OTEL_METRIC_EXPORT_INTERVAL", text, metrics.interval, .exportInterval)
        }
        if let text = environment["OTEL_METRIC_EXPORT_TIMEOUT"] {
            try checkMilliseconds("OTEL_METRIC_EXPORT_TIMEOUT", text, metrics.exportTimeout, .timeout)
        }
    }

    /// A variable in milliseconds that was applied (one that does not parse is ignored, as the
    /// specification asks), checked against `range`.
    static func checkMilliseconds(_ variable: String, _ text: String, _ applied: Duration, _ range: DurationRange) throws(ConfigError) {
        guard let milliseconds = Int(text.trimmed()), milliseconds > 0 else { return }
        if applied > range.maximum {
            throw ConfigError(file: "environment", line: nil, path: variable,
                              message: "\"\(text)\" (milliseconds) is too long (at most \(DurationRange.describe(range.maximum)))")
        }
        if applied < range.minimum {
            throw ConfigError(file: "environment", line: nil, path: variable,
                              message: "must be at least \(DurationRange.describe(range.minimum)) (try \(range.example), in milliseconds)")
        }
    }
}
