import VigilSupport
/// The kind of a metric family, as the exposition formats name it.
public enum MetricType: String, Sendable, Hashable, CustomStringConvertible {
    case counter
    case gauge
    case histogram

    public var description: String { rawValue }
}

/// What a metric family is: its name, help, type, unit, label names and (for histograms) bucket
/// bounds. Two registrations of one name must describe the same family.
public struct MetricDescriptor: Sendable, Hashable, CustomStringConvertible {
    /// The family's name. A counter's name is held without its `_total` suffix, which the
    /// encoders add to its samples.
    public let name: String
    public let help: String
    public let type: MetricType
    /// The OpenMetrics unit, such as `seconds`; the name must end in it.
    public let unit: String?
    public let labelNames: [String]
    /// Upper bounds of a histogram's buckets, without `+Inf`; empty for other types.
    public let buckets: [Double]

    public init(
        name: String, help: String, type: MetricType, unit: String? = nil,
        labelNames: [String] = [], buckets: [Double] = []
    ) {
        self.name = type == .counter ? Self.counterBaseName(name) : name
        self.help = help
        self.type = type
        self.unit = unit
        self.labelNames = labelNames
        self.buckets = buckets
    }

    /// A counter's family name: the given name without a trailing `_total`.
    static func counterBaseName(_ name: String) -> String {
        name.hasSuffix("_total") && name.utf8.count > 6 ? String(name.dropLast(6)) : name
    }

    /// The sample names this family writes; no two families may share one.
    var sampleNames: [String] {
        switch type {
        case .counter: [name, name + "_total", name + "_created"]
        case .gauge: [name]
        case .histogram: [name, name + "_bucket", name + "_sum", name + "_count", name + "_created"]
        }
    }

    /// The name as users query it: a counter's with its `_total` suffix, others' as they are.
    public var queryName: String { type == .counter ? name + "_total" : name }

    /// The names of the samples the text 0.0.4 format writes for this family.
    public var exposedSampleNames: [String] {
        switch type {
        case .counter: [name + "_total"]
        case .gauge: [name]
        case .histogram: [name + "_bucket", name + "_sum", name + "_count"]
        }
    }

    public var description: String {
        var text = "\(type) \(queryName)"
        text += "{" + labelNames.joined(separator: ",") + "}"
        if let unit { text += " unit=\(unit)" }
        if type == .histogram { text += " buckets=\(buckets)" }
        text += " help=\"\(help)\""
        return text
    }
}

/// Why a registration was refused. Each case names what was wrong and how to put it right.
public enum RegistrationError: Error, Equatable, CustomStringConvertible {
    case invalidMetricName(String, reason: String)
    case invalidLabelName(metric: String, label: String, reason: String)
    case invalidUnit(String, unit: String, reason: String)
    case invalidBuckets(String, reason: String)
    case invalidLimit(String, reason: String)
    /// A family of this name, or one whose samples would share a name with it, exists already
    /// with another definition.
    case conflict(existing: MetricDescriptor, requested: MetricDescriptor)

    public var description: String {
        switch self {
        case let .invalidMetricName(name, reason):
            "invalid metric name \"\(name)\": \(reason)"
        case let .invalidLabelName(metric, label, reason):
            "metric \"\(metric)\": invalid label name \"\(label)\": \(reason)"
        case let .invalidUnit(name, unit, reason):
            "metric \"\(name)\": invalid unit \"\(unit)\": \(reason)"
        case let .invalidBuckets(name, reason):
            "histogram \"\(name)\": invalid buckets: \(reason)"
        case let .invalidLimit(name, reason):
            "metric \"\(name)\": invalid series limit: \(reason)"
        case let .conflict(existing, requested):
            "cannot register \(requested): it clashes with the registered \(existing); "
                + "register it once and share the handle, or give it another name"
        }
    }
}

/// A sample's exemplar: labels that point at a trace, a value and when it was seen
/// (OpenMetrics 1.0, "Exemplars"). Only the OpenMetrics format carries exemplars.
public struct Exemplar: Sendable, Hashable {
    public var labels: [(name: String, value: String)] {
        get {
            if let trace { return [("trace_id", Hex.encode(trace.high) + Hex.encode(trace.low)), ("span_id", Hex.encode(trace.span))] }
            return zip(names, values).map { ($0, $1) }
        }
        set {
            trace = nil
            names = newValue.map(\.name)
            values = newValue.map(\.value)
        }
    }
    public var value: Double
    /// Seconds since the Unix epoch; nil leaves the timestamp out.
    public var timestamp: Double?

    var names: [String]
    var values: [String]
    /// A trace and span id kept as numbers and written as `trace_id` and `span_id` in hex at
    /// scrape time: recording one allocates nothing.
    var trace: (high: UInt64, low: UInt64, span: UInt64)?

    /// OpenMetrics caps the label names and values of one exemplar at 128 UTF-8 characters.
    public static let maximumLabelCharacters = 128

    public init(labels: [(name: String, value: String)], value: Double, timestamp: Double? = nil) {
        self.names = labels.map(\.name)
        self.values = labels.map(\.value)
        self.value = value
        self.timestamp = timestamp
    }

    /// An exemplar naming a span: `trace_id` (16 bytes) and `span_id` (8 bytes), in hex.
    public init(traceIDHigh: UInt64, traceIDLow: UInt64, spanID: UInt64, value: Double, timestamp: Double? = nil) {
        self.names = []
        self.values = []
        self.trace = (traceIDHigh, traceIDLow, spanID)
        self.value = value
        self.timestamp = timestamp
    }

    /// Whether the labels are valid and fit the OpenMetrics size limit.
    var isValid: Bool {
        if trace != nil { return true }  // 8 + 32 + 7 + 16 characters
        var characters = 0
        for (name, value) in zip(names, values) {
            guard NameRules.isValidLabelName(name) else { return false }
            characters += name.unicodeScalars.count + value.unicodeScalars.count
        }
        return characters <= Self.maximumLabelCharacters
    }

    public static func == (a: Exemplar, b: Exemplar) -> Bool {
        a.names == b.names && a.values == b.values && a.value.bitPattern == b.value.bitPattern
            && a.timestamp == b.timestamp && a.trace?.high == b.trace?.high && a.trace?.low == b.trace?.low && a.trace?.span == b.trace?.span
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(names)
        hasher.combine(values)
        hasher.combine(trace?.span)
        hasher.combine(value.bitPattern)
    }
}
