import VigilSupport

/// Reads an OpenMetrics 1.0 exposition, as `Registry.render(.openMetrics, includeCreated: true)`
/// writes it, into OTLP metrics (`MetricData`).
///
/// The OTLP metrics exporter pushes what a scrape at the same moment would show, families and
/// collectors alike, by reading the registry's own OpenMetrics rendering: one read-out of the
/// registry, whose `_created` samples give each series' start time and whose exemplars carry
/// the trace and span ids. Lines it does not understand are skipped; it never traps.
public enum OpenMetricsReader {
    /// The metrics in `text`, each point stamped `timeUnixNano`. A counter's or histogram's start
    /// time is its `_created` sample; without one (collected series), the process start
    /// (`process_start_time_seconds` when the text has it, else `defaultStartUnixNano`).
    public static func metrics(from text: [UInt8], timeUnixNano: UInt64, defaultStartUnixNano: UInt64) -> [MetricData] {
        var families: [Family] = []
        var current: Family?
        for line in String(decoding: text, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# ") {
                let words = line.dropFirst(2).split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
                guard words.count >= 2, ["HELP", "TYPE", "UNIT"].contains(words[0]) else { continue }
                let name = String(words[1])
                if current?.name != name {
                    if let done = current { families.append(done) }
                    current = Family(name: name)
                }
                let rest = words.count > 2 ? String(words[2]) : ""
                switch words[0] {
                case "HELP": current?.help = unescape(Substring(rest))
                case "TYPE": current?.type = rest
                default: current?.unit = rest
                }
                continue
            }
            guard var family = current, let sample = Sample(parsing: line) else { continue }
            current = nil  // keeps the family's storage unique while it is changed
            family.add(sample)
            current = family
        }
        if let done = current { families.append(done) }

        let processStart = families.first { $0.name == "process_start_time_seconds" }?.series.first?.value
            .flatMap { $0.isFinite && $0 > 0 ? nanos($0) : nil } ?? defaultStartUnixNano
        return families.compactMap { $0.metric(time: timeUnixNano, processStart: processStart) }
    }

    // MARK: Families and series

    struct Series {
        var labels: [MetricPoint.Label]
        var value: Double?
        var created: Double?
        var count: UInt64?
        var sum: Double?
        /// Cumulative counts by upper bound, in order; `+Inf` last.
        var buckets: [(bound: Double, count: UInt64)] = []
        var exemplars: [MetricExemplar] = []
    }

    struct Family {
        let name: String
        var help = ""
        var type = "unknown"
        var unit = ""
        var series: [Series] = []
        var index: [[MetricPoint.Label]: Int] = [:]

        mutating func add(_ sample: Sample) {
            guard sample.name.hasPrefix(name) else { return }
            let suffix = sample.name.dropFirst(name.count)
            var labels = sample.labels
            var bound: Double?
            if suffix == "_bucket", let le = labels.firstIndex(where: { $0.name == "le" }) {
                bound = number(Substring(labels[le].value))
                labels.remove(at: le)
            }
            let at: Int
            if let known = index[labels] {
                at = known
            } else {
                at = series.count
                index[labels] = at
                series.append(Series(labels: labels))
            }
            switch suffix {
            case "", "_total": series[at].value = sample.value
            case "_created": series[at].created = sample.value
            case "_count": series[at].count = UInt64(exactly: sample.value.rounded()) ?? 0
            case "_sum": series[at].sum = sample.value
            case "_bucket":
                guard let bound else { return }
                series[at].buckets.append((bound, UInt64(exactly: sample.value.rounded()) ?? 0))
            default: return
            }
            if let exemplar = sample.exemplar { series[at].exemplars.append(exemplar) }
        }

        func metric(time: UInt64, processStart: UInt64) -> MetricData? {
            let kind: MetricData.Kind
            switch type {
            case "counter": kind = .monotonicSum
            case "gauge": kind = .gauge
            case "histogram": kind = .histogram
            default: return nil  // Vigil's registry writes no other type
            }
            let (otlpName, otlpUnit) = OTLPMetricNames.otlp(name: name, isCounter: kind == .monotonicSum, unit: unit.isEmpty ? nil : unit)
            let points: [MetricPoint] = series.compactMap { s in
                let start = kind == .gauge ? 0 : (s.created.flatMap { $0.isFinite && $0 > 0 ? nanos($0) : nil } ?? processStart)
                let exemplars = s.exemplars.map { e -> MetricExemplar in
                    var e = e
                    if e.timeUnixNano == 0 { e.timeUnixNano = time }
                    return e
                }
                if kind == .histogram {
                    guard let last = s.buckets.last, last.bound == .infinity else { return nil }
                    var previous: UInt64 = 0
                    var counts: [UInt64] = []
                    for bucket in s.buckets {
                        counts.append(bucket.count >= previous ? bucket.count - previous : 0)
                        previous = bucket.count
                    }
                    let value = MetricPoint.Value.histogram(count: s.count ?? last.count, sum: s.sum ?? 0,
                                                            bounds: s.buckets.dropLast().map(\.bound), bucketCounts: counts)
                    return MetricPoint(attributes: s.labels, startTimeUnixNano: start, timeUnixNano: time, value: value, exemplars: exemplars)
                }
                guard let value = s.value else { return nil }
                return MetricPoint(attributes: s.labels, startTimeUnixNano: start, timeUnixNano: time, value: .number(value), exemplars: exemplars)
            }
            return MetricData(name: otlpName, description: help, unit: otlpUnit, kind: kind, points: points)
        }
    }

    // MARK: Sample lines

    /// `name{labels} value[ # {labels} value[ timestamp]]`.
    struct Sample {
        var name: String
        var labels: [MetricPoint.Label] = []
        var value: Double
        var exemplar: MetricExemplar?

        init?(parsing line: Substring) {
            var rest = line[...]
            let nameEnd = rest.firstIndex { $0 == "{" || $0 == " " } ?? rest.endIndex
            name = String(rest[..<nameEnd])
            rest = rest[nameEnd...]
            if rest.first == "{" {
                guard let (labels, after) = OpenMetricsReader.labels(rest) else { return nil }
                self.labels = labels
                rest = after
            }
            rest = rest.drop { $0 == " " }
            let valueEnd = rest.firstIndex(of: " ") ?? rest.endIndex
            guard let value = number(rest[..<valueEnd]) else { return nil }
            self.value = value
            rest = rest[valueEnd...].drop { $0 == " " }
            guard rest.hasPrefix("# {") else { return }  // Vigil writes no sample timestamps
            rest = rest.dropFirst(2)
            guard let (labels, after) = OpenMetricsReader.labels(rest) else { return }
            let words = after.split(separator: " ")
            guard let first = words.first, let exemplarValue = number(first) else { return }
            let timestamp = words.count > 1 ? number(words[1]) : nil
            var exemplar = MetricExemplar(traceID: nil, spanID: nil, value: exemplarValue,
                                          timeUnixNano: timestamp.flatMap { $0.isFinite && $0 > 0 ? nanos($0) : nil } ?? 0)
            for label in labels {
                if label.name == "trace_id", let id = idBytes(label.value, digits: 32) {
                    exemplar.traceID = id
                } else if label.name == "span_id", let id = idBytes(label.value, digits: 16) {
                    exemplar.spanID = id
                } else {
                    exemplar.filteredAttributes.append(label)
                }
            }
            self.exemplar = exemplar
        }
    }

    /// `{name="value",…}` at the start of `text`, and what follows it; nil when malformed.
    static func labels(_ text: Substring) -> ([MetricPoint.Label], Substring)? {
        var rest = text.dropFirst()  // "{"
        var labels: [MetricPoint.Label] = []
        while true {
            if rest.first == "}" { return (labels, rest.dropFirst()) }
            guard let equals = rest.firstIndex(of: "=") else { return nil }
            let name = String(rest[..<equals])
            rest = rest[rest.index(after: equals)...]
            guard rest.first == "\"" else { return nil }
            rest = rest.dropFirst()
            // The value ends at the first quote that no backslash escapes.
            var escaped = false
            guard let close = rest.firstIndex(where: { c in
                defer { escaped = !escaped && c == "\\" }
                return !escaped && c == "\""
            }) else { return nil }
            labels.append(MetricPoint.Label(name, unescape(rest[..<close])))
            rest = rest[rest.index(after: close)...]
            if rest.first == "," { rest = rest.dropFirst() }
        }
    }

    /// Label values and HELP text: `\\`, `\n` and `\"` unescaped.
    static func unescape(_ text: Substring) -> String {
        var out = ""
        var escaped = false
        for c in text {
            if escaped {
                out.append(c == "n" ? "\n" : c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// A sample value: a decimal, `+Inf`, `-Inf` or `NaN`.
    static func number(_ text: Substring) -> Double? {
        switch text {
        case "+Inf", "Inf": .infinity
        case "-Inf": -.infinity
        case "NaN": .nan
        default: Double(text)
        }
    }

    static func nanos(_ seconds: Double) -> UInt64 {
        UInt64(exactly: (seconds * 1e9).rounded()) ?? 0
    }

    /// The bytes of an id written as `digits` hex digits (32 for a trace, 16 for a span), either
    /// case; nil for anything else.
    static func idBytes(_ text: String, digits: Int) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count == digits else { return nil }
        var bytes: [UInt8] = []
        for start in stride(from: 0, to: digits, by: 16) {
            guard let value = Hex.decode(utf8[start..<min(start + 16, digits)], ignoringCase: true) else { return nil }
            bytes += Hex.bigEndianBytes(value)
        }
        return bytes
    }
}
