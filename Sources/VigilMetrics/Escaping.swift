/// Escaping as the exposition formats define it.
enum Escaping {
    /// Label values, in both formats: `\` → `\\`, `"` → `\"`, line feed → `\n`. Everything else,
    /// tabs and non-ASCII UTF-8 included, is written as it is.
    static func appendLabelValue(_ value: String, to out: inout [UInt8]) {
        appendEscaped(value, escapingQuotes: true, to: &out)
    }

    /// `name="value",…` for the exposition formats, without braces.
    static func appendLabels(names: some Sequence<String>, values: some Sequence<String>, to out: inout [UInt8]) {
        for (i, (name, value)) in zip(names, values).enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: "=\"".utf8)
            appendLabelValue(value, to: &out)
            out.append(UInt8(ascii: "\""))
        }
    }

    /// HELP text. Text 0.0.4 escapes `\` and line feed only; OpenMetrics escapes `"` as well.
    static func appendHelp(_ help: String, escapingQuotes: Bool, to out: inout [UInt8]) {
        appendEscaped(help, escapingQuotes: escapingQuotes, to: &out)
    }

    private static func appendEscaped(_ text: String, escapingQuotes: Bool, to out: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\"") where escapingQuotes:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            default: out.append(byte)
            }
        }
    }
}

/// Numbers as the exposition formats write them: shortest round-trip form, `+Inf`, `-Inf`, `NaN`.
enum NumberFormatting {
    /// Integral values below 2^53 as integers (`3`, not `3.0`), others in shortest round-trip
    /// form (`0.1`, `1e-05`), the way Go's `strconv.FormatFloat(v, 'g', -1, 64)` writes them.
    static func text(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
        if value == value.rounded(), abs(value) < 0x1p53 { return String(Int64(value)) }
        let shortest = value.description
        // Swift writes integral values from 2^53 to 1e16 with a `.0` that Go's form leaves out.
        return shortest.hasSuffix(".0") ? String(shortest.dropLast(2)) : shortest
    }

    /// OpenMetrics' canonical form for `le` values: integral values keep a `.0` (`1.0`).
    static func openMetricsCanonical(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
        if value == value.rounded(), abs(value) < 0x1p53 { return String(Int64(value)) + ".0" }
        return value.description
    }
}
