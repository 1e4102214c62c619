/// One metric as OTLP carries it (opentelemetry-proto, metrics/v1 `Metric`): named and united as
/// the OpenTelemetry–Prometheus compatibility specification maps a Prometheus family
/// (`OTLPMetricNames`), with one point per series.
public struct MetricData: Sendable, Equatable {
    /// How the points aggregate; every Vigil metric is cumulative.
    public enum Kind: Sendable, Equatable {
        /// A Prometheus counter: a cumulative, monotonic `Sum`.
        case monotonicSum
        /// A Prometheus gauge: a `Gauge`.
        case gauge
        /// A Prometheus histogram: a cumulative `Histogram` with explicit bounds.
        case histogram
    }

    /// The OTLP name: the family name with `_total` and the unit suffix taken off.
    public var name: String
    /// The family's HELP text.
    public var description: String
    /// The UCUM unit (`s`, `By`), or empty.
    public var unit: String
    public var kind: Kind
    public var points: [MetricPoint]

    public init(name: String, description: String, unit: String, kind: Kind, points: [MetricPoint]) {
        self.name = name
        self.description = description
        self.unit = unit
        self.kind = kind
        self.points = points
    }
}

/// One series' value at one moment (`NumberDataPoint` or `HistogramDataPoint`).
public struct MetricPoint: Sendable, Equatable {
    /// The series' labels, as string attributes, in the family's label order.
    public var attributes: [Label]
    /// When the cumulative count started (the series' creation, else the process start); 0 for gauges.
    public var startTimeUnixNano: UInt64
    /// When the value was read.
    public var timeUnixNano: UInt64
    public var value: Value
    /// Exemplars: for a histogram, at most one a bucket.
    public var exemplars: [MetricExemplar]

    /// A label: a name and its value.
    public struct Label: Sendable, Hashable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// A number, or a histogram's buckets.
    public enum Value: Sendable, Equatable {
        case number(Double)
        /// `bucketCounts` per bucket (not cumulative), one more than `bounds`: the last is `+Inf`'s.
        case histogram(count: UInt64, sum: Double, bounds: [Double], bucketCounts: [UInt64])
    }

    public init(attributes: [Label], startTimeUnixNano: UInt64, timeUnixNano: UInt64, value: Value, exemplars: [MetricExemplar] = []) {
        self.attributes = attributes
        self.startTimeUnixNano = startTimeUnixNano
        self.timeUnixNano = timeUnixNano
        self.value = value
        self.exemplars = exemplars
    }
}

/// A recorded measurement that names its trace (`Exemplar`).
public struct MetricExemplar: Sendable, Equatable {
    /// The 16 bytes of the trace id, when the exemplar has a `trace_id` label of 32 hex digits.
    public var traceID: [UInt8]?
    /// The 8 bytes of the span id, when it has a `span_id` label of 16 hex digits.
    public var spanID: [UInt8]?
    public var value: Double
    public var timeUnixNano: UInt64
    /// Its other labels.
    public var filteredAttributes: [MetricPoint.Label]

    public init(traceID: [UInt8]?, spanID: [UInt8]?, value: Double, timeUnixNano: UInt64, filteredAttributes: [MetricPoint.Label] = []) {
        self.traceID = traceID
        self.spanID = spanID
        self.value = value
        self.timeUnixNano = timeUnixNano
        self.filteredAttributes = filteredAttributes
    }
}

/// Prometheus names and units in OTLP, as the OpenTelemetry–Prometheus compatibility
/// specification ("Prometheus Metric points to OTLP", Metric Metadata) maps them: the UNIT
/// becomes the OTLP unit (in UCUM: `seconds` is `s`, `bytes` is `By`), and once a counter's
/// `_total` is trimmed, the unit is trimmed from the end of the name too.
///
/// Vigil's names all end in their base unit, but not every family declares a UNIT: a family
/// without one whose name ends in `_seconds` or `_bytes` is given that unit, as if declared.
public enum OTLPMetricNames {
    /// Prometheus base units and their UCUM spelling.
    static let ucum: [String: String] = [
        "seconds": "s", "bytes": "By", "ratio": "1", "meters": "m", "volts": "V", "amperes": "A",
        "joules": "J", "grams": "g", "celsius": "Cel", "hertz": "Hz", "percent": "%",
    ]

    /// The units inferred from a name's suffix when the family declares none.
    static let inferred = ["seconds", "bytes"]

    /// The OTLP name and unit of a family named `name` (an OpenMetrics family name: a counter's
    /// without `_total`) with the UNIT `unit` (nil: none declared).
    public static func otlp(name: String, isCounter: Bool, unit: String?) -> (name: String, unit: String) {
        var name = name
        if isCounter, name.hasSuffix("_total") { name.removeLast(6) }
        let declared = unit.flatMap { $0.isEmpty ? nil : $0 } ?? inferred.first { name.hasSuffix("_" + $0) }
        guard let declared else { return (name, "") }
        if name.hasSuffix("_" + declared), name.count > declared.count + 1 { name.removeLast(declared.count + 1) }
        return (name, ucum[declared] ?? declared)
    }
}
