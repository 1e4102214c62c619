/// Writes the lines of one exposition into a byte buffer. Families and collectors call it; it
/// knows the few places where text 0.0.4 and OpenMetrics differ.
struct ExpositionWriter {
    let format: ExpositionFormat
    let includeCreated: Bool
    var bytes: [UInt8]

    init(format: ExpositionFormat, includeCreated: Bool, capacity: Int) {
        self.format = format
        self.includeCreated = includeCreated
        self.bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// `# HELP`, `# TYPE` and, in OpenMetrics, `# UNIT`.
    mutating func header(_ d: MetricDescriptor) {
        // Text 0.0.4 names a counter family by its sample name; OpenMetrics without `_total`.
        let name = d.type == .counter && format == .text ? d.name + "_total" : d.name
        bytes.append(contentsOf: "# HELP ".utf8)
        bytes.append(contentsOf: name.utf8)
        bytes.append(UInt8(ascii: " "))
        Escaping.appendHelp(d.help, escapingQuotes: format == .openMetrics, to: &bytes)
        bytes.append(contentsOf: "\n# TYPE ".utf8)
        bytes.append(contentsOf: name.utf8)
        bytes.append(UInt8(ascii: " "))
        bytes.append(contentsOf: d.type.rawValue.utf8)
        bytes.append(UInt8(ascii: "\n"))
        if format == .openMetrics, let unit = d.unit {
            bytes.append(contentsOf: "# UNIT ".utf8)
            bytes.append(contentsOf: name.utf8)
            bytes.append(UInt8(ascii: " "))
            bytes.append(contentsOf: unit.utf8)
            bytes.append(UInt8(ascii: "\n"))
        }
    }

    mutating func end() {
        if format == .openMetrics { bytes.append(contentsOf: "# EOF\n".utf8) }
    }

    @inline(__always)
    private mutating func name(_ name: [UInt8], _ suffix: StaticString, _ labels: [UInt8]) {
        bytes.append(contentsOf: name)
        if suffix.utf8CodeUnitCount > 0 {
            bytes.append(contentsOf: UnsafeBufferPointer(start: suffix.utf8Start, count: suffix.utf8CodeUnitCount))
        }
        if !labels.isEmpty {
            bytes.append(UInt8(ascii: "{"))
            bytes.append(contentsOf: labels)
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: " "))
    }

    mutating func sample(_ name: [UInt8], suffix: StaticString, labels: [UInt8], value: Double, exemplar: Exemplar? = nil) {
        self.name(name, suffix, labels)
        double(value)
        if let exemplar { self.exemplar(exemplar) }
        bytes.append(UInt8(ascii: "\n"))
    }

    mutating func sample(_ name: [UInt8], suffix: StaticString, labels: [UInt8], integer: UInt64, exemplar: Exemplar? = nil) {
        self.name(name, suffix, labels)
        self.integer(integer)
        if let exemplar { self.exemplar(exemplar) }
        bytes.append(UInt8(ascii: "\n"))
    }

    /// One `_bucket` line: the series' labels with `le` last.
    mutating func bucket(_ name: [UInt8], labels: [UInt8], le: [UInt8], count: UInt64, exemplar: Exemplar?) {
        bytes.append(contentsOf: name)
        bytes.append(contentsOf: "_bucket{".utf8)
        if !labels.isEmpty {
            bytes.append(contentsOf: labels)
            bytes.append(UInt8(ascii: ","))
        }
        bytes.append(contentsOf: "le=\"".utf8)
        bytes.append(contentsOf: le)
        bytes.append(contentsOf: "\"} ".utf8)
        integer(count)
        if let exemplar { self.exemplar(exemplar) }
        bytes.append(UInt8(ascii: "\n"))
    }

    /// ` # {labels} value timestamp` (OpenMetrics only).
    private mutating func exemplar(_ e: Exemplar) {
        bytes.append(contentsOf: " # {".utf8)
        for (i, (name, value)) in zip(e.names, e.values).enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: name.utf8)
            bytes.append(contentsOf: "=\"".utf8)
            Escaping.appendLabelValue(value, to: &bytes)
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(contentsOf: "} ".utf8)
        double(e.value)
        if let timestamp = e.timestamp {
            bytes.append(UInt8(ascii: " "))
            bytes.append(contentsOf: timestamp.description.utf8)
        }
    }

    @inline(__always)
    mutating func double(_ value: Double) {
        if value == value.rounded(), abs(value) < 0x1p53 {
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            integer(UInt64(abs(value)))
        } else {
            bytes.append(contentsOf: NumberFormatting.text(value).utf8)
        }
    }

    @inline(__always)
    mutating func integer(_ value: UInt64) {
        if value < 10 {
            bytes.append(UInt8(ascii: "0") &+ UInt8(value))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var v = value
            var i = 20
            while v > 0 {
                i &-= 1
                digits[i] = UInt8(ascii: "0") &+ UInt8(v % 10)
                v /= 10
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[i..<20]))
        }
    }
}
