import VigilSupport
/// Writes the lines of one exposition. Families and collectors call it; it knows the few places
/// where text 0.0.4 and OpenMetrics differ.
struct ExpositionWriter {
    let format: ExpositionFormat
    let includeCreated: Bool
    let sink: ByteSink

    init(format: ExpositionFormat, includeCreated: Bool, capacity: Int) {
        self.init(format: format, includeCreated: includeCreated, sink: ByteSink(capacity: capacity))
    }

    init(format: ExpositionFormat, includeCreated: Bool, sink: ByteSink) {
        self.format = format
        self.includeCreated = includeCreated
        self.sink = sink
    }

    var bytes: [UInt8] { sink.bytes }

    /// `# HELP`, `# TYPE` and, in OpenMetrics, `# UNIT`.
    func header(_ d: MetricDescriptor) {
        // Text 0.0.4 names a counter family by its sample name; OpenMetrics without `_total`.
        let name = d.type == .counter && format == .text ? d.name + "_total" : d.name
        var help: [UInt8] = []
        Escaping.appendHelp(d.help, escapingQuotes: format == .openMetrics, to: &help)
        sink.append("# HELP ")
        sink.append(name)
        sink.append(UInt8(ascii: " "))
        sink.append(help)
        sink.append("\n# TYPE ")
        sink.append(name)
        sink.append(UInt8(ascii: " "))
        sink.append(d.type.rawValue)
        sink.append(UInt8(ascii: "\n"))
        if format == .openMetrics, let unit = d.unit {
            sink.append("# UNIT ")
            sink.append(name)
            sink.append(UInt8(ascii: " "))
            sink.append(unit)
            sink.append(UInt8(ascii: "\n"))
        }
    }

    func end() {
        if format == .openMetrics { sink.append("# EOF\n") }
    }

    /// A line whose `name{labels} ` prefix was rendered beforehand: the hot path of a scrape.
    @inline(__always)
    func line(_ prefix: [UInt8], integer: UInt64) {
        sink.append(prefix)
        sink.append(decimal: integer)
        sink.append(UInt8(ascii: "\n"))
    }

    /// The same, with the prefix in a render plan's buffer.
    @inline(__always)
    func line(_ prefix: UnsafeRawBufferPointer, integer: UInt64) {
        sink.append(prefix)
        sink.append(decimal: integer)
        sink.append(UInt8(ascii: "\n"))
    }

    @inline(__always)
    func line(_ prefix: UnsafeRawBufferPointer, value: Double) {
        sink.append(prefix)
        double(value)
        sink.append(UInt8(ascii: "\n"))
    }

    @inline(__always)
    func line(_ prefix: [UInt8], value: Double, exemplar: Exemplar? = nil) {
        sink.append(prefix)
        double(value)
        if let exemplar { self.exemplar(exemplar) }
        sink.append(UInt8(ascii: "\n"))
    }

    private func name(_ name: [UInt8], _ suffix: StaticString, _ labels: [UInt8]) {
        sink.append(name)
        sink.append(suffix)
        if !labels.isEmpty {
            sink.append(UInt8(ascii: "{"))
            sink.append(labels)
            sink.append(UInt8(ascii: "}"))
        }
        sink.append(UInt8(ascii: " "))
    }

    func sample(_ name: [UInt8], suffix: StaticString, labels: [UInt8], value: Double, exemplar: Exemplar? = nil) {
        self.name(name, suffix, labels)
        double(value)
        if let exemplar { self.exemplar(exemplar) }
        sink.append(UInt8(ascii: "\n"))
    }

    func sample(_ name: [UInt8], suffix: StaticString, labels: [UInt8], integer: UInt64, exemplar: Exemplar? = nil) {
        self.name(name, suffix, labels)
        sink.append(decimal: integer)
        if let exemplar { self.exemplar(exemplar) }
        sink.append(UInt8(ascii: "\n"))
    }

    /// One `_bucket` line: the series' labels with `le` last.
    @inline(__always)
    func bucket(_ name: [UInt8], labels: [UInt8], le: [UInt8], count: UInt64, exemplar: Exemplar?) {
        sink.append(name)
        sink.append("_bucket{")
        if !labels.isEmpty {
            sink.append(labels)
            sink.append(UInt8(ascii: ","))
        }
        sink.append("le=\"")
        sink.append(le)
        sink.append("\"} ")
        sink.append(decimal: count)
        if let exemplar { self.exemplar(exemplar) }
        sink.append(UInt8(ascii: "\n"))
    }

    /// ` # {labels} value timestamp` (OpenMetrics only).
    private func exemplar(_ e: Exemplar) {
        if let trace = e.trace {
            sink.append(" # {trace_id=\"")
            hex(trace.high)
            hex(trace.low)
            sink.append("\",span_id=\"")
            hex(trace.span)
            sink.append("\"} ")
        } else {
            var labels: [UInt8] = []
            Escaping.appendLabels(names: e.names, values: e.values, to: &labels)
            sink.append(" # {")
            sink.append(labels)
            sink.append("} ")
        }
        double(e.value)
        if let timestamp = e.timestamp {
            sink.append(UInt8(ascii: " "))
            sink.append(timestamp.description)
        }
    }

    /// Sixteen lowercase hex digits.
    private func hex(_ value: UInt64) {
        for shift in stride(from: 60, through: 0, by: -4) {
            sink.append(Hex.digit(UInt8(truncatingIfNeeded: value >> UInt64(shift))))
        }
    }

    @inline(__always)
    func double(_ value: Double) {
        if value == value.rounded(), abs(value) < 0x1p53 {
            if value < 0 { sink.append(UInt8(ascii: "-")) }
            sink.append(decimal: UInt64(abs(value)))
        } else {
            sink.append(NumberFormatting.text(value))
        }
    }
}
