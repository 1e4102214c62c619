import VigilSupport
import VigilTracing

/// Writes OTLP/JSON: the protobuf JSON mapping with OTLP's exceptions.
struct JSONWriter {
    var bytes: [UInt8] = []

    mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// A JSON string (RFC 8259 §7).
    mutating func string(_ text: String) { JSONText.appendString(text, to: &bytes) }

    /// A JSON array of `values`, each written by `element`.
    mutating func list<T>(_ values: [T], _ element: (inout JSONWriter, T) -> Void) {
        raw("[")
        for (i, value) in values.enumerated() {
            if i > 0 { raw(",") }
            element(&self, value)
        }
        raw("]")
    }

    /// `[{"key": …, "value": AnyValue}, …]`
    mutating func attributes(_ attributes: [Attribute]) {
        list(attributes) { w, attribute in
            w.raw("{\"key\":")
            w.string(attribute.key)
            w.raw(",\"value\":")
            w.anyValue(attribute.value)
            w.raw("}")
        }
    }

    mutating func double(_ value: Double) {
        if value.isNaN { raw("\"NaN\"") } else if value.isInfinite { raw(value < 0 ? "\"-Infinity\"" : "\"Infinity\"") } else { raw("\(value)") }
    }

    mutating func anyValue(_ value: AttributeValue) {
        func array<T>(_ values: [T], _ one: (inout JSONWriter, T) -> Void) {
            raw("{\"arrayValue\":{\"values\":")
            list(values, one)
            raw("}}")
        }
        switch value {
        case .string(let s):
            raw("{\"stringValue\":")
            string(s)
            raw("}")
        case .bool(let b): raw("{\"boolValue\":\(b)}")
        case .int(let i): raw("{\"intValue\":\"\(i)\"}")
        case .double(let d):
            raw("{\"doubleValue\":")
            double(d)
            raw("}")
        case .stringArray(let values): array(values) { w, v in w.raw("{\"stringValue\":"); w.string(v); w.raw("}") }
        case .boolArray(let values): array(values) { w, v in w.raw("{\"boolValue\":\(v)}") }
        case .intArray(let values): array(values) { w, v in w.raw("{\"intValue\":\"\(v)\"}") }
        case .doubleArray(let values): array(values) { w, v in w.raw("{\"doubleValue\":"); w.double(v); w.raw("}") }
        }
    }
}
