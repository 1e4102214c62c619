/// Checks names against the Prometheus data model
/// (https://prometheus.io/docs/concepts/data_model/#metric-names-and-labels).
enum NameRules {
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`
    static func isValidMetricName(_ name: String) -> Bool {
        isValidName(name, allowingColon: true)
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`
    static func isValidLabelName(_ name: String) -> Bool {
        isValidName(name, allowingColon: false)
    }

    private static func isValidName(_ name: String, allowingColon: Bool) -> Bool {
        var first = true
        for byte in name.utf8 {
            let ok: Bool
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"):
                ok = true
            case UInt8(ascii: ":"):
                ok = allowingColon
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                ok = !first
            default:
                ok = false
            }
            if !ok { return false }
            first = false
        }
        return !first
    }

    /// Label names the exposition formats give a meaning of their own.
    static let reservedLabelNames: Set<String> = ["le", "quantile"]

    /// Validates one family's name, unit and label names.
    static func validate(_ d: MetricDescriptor) throws(RegistrationError) {
        guard isValidMetricName(d.name) else {
            throw .invalidMetricName(d.name, reason: "must match [a-zA-Z_:][a-zA-Z0-9_:]* (try \(suggestedName(d.name)))")
        }
        if d.name.hasPrefix("__") {
            throw .invalidMetricName(d.name, reason: "names starting with \"__\" are reserved for Prometheus' internal use")
        }
        if let unit = d.unit {
            guard !unit.isEmpty, isValidLabelName(unit) else {
                throw .invalidUnit(d.name, unit: unit, reason: "a unit must match [a-zA-Z_][a-zA-Z0-9_]*, like seconds or bytes")
            }
            guard d.name.hasSuffix("_" + unit) else {
                throw .invalidUnit(d.name, unit: unit, reason: "OpenMetrics requires the name to end in the unit (try \(d.name)_\(unit))")
            }
        }
        var seen = Set<String>()
        for label in d.labelNames {
            guard isValidLabelName(label) else {
                throw .invalidLabelName(metric: d.name, label: label, reason: "must match [a-zA-Z_][a-zA-Z0-9_]*")
            }
            if label.hasPrefix("__") {
                throw .invalidLabelName(metric: d.name, label: label, reason: "names starting with \"__\" are reserved")
            }
            if reservedLabelNames.contains(label) {
                throw .invalidLabelName(metric: d.name, label: label, reason: "\"\(label)\" is reserved by the exposition formats for histogram buckets and summary quantiles")
            }
            if !seen.insert(label).inserted {
                throw .invalidLabelName(metric: d.name, label: label, reason: "given twice")
            }
        }
        if d.type == .histogram {
            for suffix in ["_bucket", "_sum", "_count", "_created"] where d.name.hasSuffix(suffix) {
                throw .invalidMetricName(d.name, reason: "a histogram's name must not end in \(suffix): its samples add that suffix")
            }
        }
    }

    /// A name with every invalid character replaced by an underscore.
    static func suggestedName(_ name: String) -> String {
        var out = ""
        for (index, ch) in name.enumerated() {
            let valid = ch.isASCII && (ch.isLetter || ch == "_" || ch == ":" || (index > 0 && ch.isNumber))
            out.append(valid ? ch : "_")
        }
        return out.isEmpty ? "_" : out
    }
}
