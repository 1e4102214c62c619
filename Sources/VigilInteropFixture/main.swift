// Renders a registry holding every metric type, exemplars and awkward label values, and writes
// beside it what was put in, so that scripts/interop can check that real parsers read back
// exactly that. Usage: VigilInteropFixture OUTPUT_DIRECTORY
import Foundation
import VigilMetrics

struct ExpectedSample: Encodable {
    var name: String
    var labels: [String: String]
    var value: Double  // non-finite values are written as "+Inf", "-Inf", "NaN"
    var exemplar: ExpectedExemplar?
}

struct ExpectedExemplar: Encodable {
    var labels: [String: String]
    var value: Double
}

struct ExpectedFamily: Encodable {
    var name: String  // the OpenMetrics family name: counters without _total
    var type: String
    var help: String
    var unit: String?
    var samples: [ExpectedSample]
}

let awkwardValues = [
    "plain", "with \"quotes\"", "back\\slash", "new\nline", "tab\there", "", "日本語 ü ✓ 🚀",
    "\\n is not a newline", "trailing backslash \\", "{braces}=,", " leading and trailing ",
]

func run(outputDirectory: URL) throws {
    let registry = Registry()
    var expected: [ExpectedFamily] = []

    // A counter with two labels, integer and floating adds.
    let requests = try registry.counter(
        "interop_requests_total", help: "Requests handled, by method and path.", labelNames: ["method", "path"])
    requests.labels("GET", "/").inc(by: 7)
    requests.labels("POST", "/submit").inc(by: 2.25)
    requests.labels("GET", "/").inc()
    expected.append(ExpectedFamily(name: "interop_requests", type: "counter", help: "Requests handled, by method and path.", unit: nil, samples: [
        ExpectedSample(name: "interop_requests_total", labels: ["method": "GET", "path": "/"], value: 8),
        ExpectedSample(name: "interop_requests_total", labels: ["method": "POST", "path": "/submit"], value: 2.25),
    ]))

    // A counter with an exemplar.
    let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
    let spanID = "00f067aa0ba902b7"
    let events = try registry.counter("interop_events_total", help: "Events, with an exemplar.")
    events.inc(by: 3, exemplar: [("trace_id", traceID), ("span_id", spanID)])
    expected.append(ExpectedFamily(name: "interop_events", type: "counter", help: "Events, with an exemplar.", unit: nil, samples: [
        ExpectedSample(name: "interop_events_total", labels: [:], value: 3,
                       exemplar: ExpectedExemplar(labels: ["trace_id": traceID, "span_id": spanID], value: 3)),
    ]))

    // Gauges: a unit, special values.
    let temperature = try registry.gauge(
        "interop_temperature_celsius", help: "Temperature, \"quoted\" and back\\slashed\nover two lines.",
        unit: "celsius", labelNames: ["sensor"])
    let readings: [(String, Double)] = [
        ("a", -12.5), ("b", 0.1), ("c", 1e-05), ("d", 1e+300), ("e", .infinity), ("f", -.infinity), ("g", .nan),
        ("h", 0.30000000000000004), ("i", .leastNonzeroMagnitude),
    ]
    for (sensor, value) in readings { temperature.labels(sensor).set(value) }
    expected.append(ExpectedFamily(
        name: "interop_temperature_celsius", type: "gauge", help: "Temperature, \"quoted\" and back\\slashed\nover two lines.",
        unit: "celsius",
        samples: readings.map { ExpectedSample(name: "interop_temperature_celsius", labels: ["sensor": $0.0], value: $0.1) }))

    // Every awkward label value.
    let awkward = try registry.gauge("interop_label_values", help: "One series per awkward label value.", labelNames: ["value", "index"])
    var awkwardSamples: [ExpectedSample] = []
    for (i, value) in awkwardValues.enumerated() {
        awkward.labels(value, String(i)).set(Double(i))
        awkwardSamples.append(ExpectedSample(name: "interop_label_values", labels: ["value": value, "index": String(i)], value: Double(i)))
    }
    expected.append(ExpectedFamily(name: "interop_label_values", type: "gauge", help: "One series per awkward label value.", unit: nil, samples: awkwardSamples))

    // A histogram with labels and bucket exemplars, and a duration histogram.
    let bounds: [Double] = [0.005, 0.05, 0.5, 1, 5]
    let latency = try registry.histogram(
        "interop_latency_seconds", help: "Latency of a phase.", unit: "seconds", labelNames: ["plugin"], buckets: bounds)
    let observations: [Double] = [0.001, 0.04, 0.04, 0.7, 3, 12]
    for v in observations { latency.labels("tokenizer").observe(v) }
    latency.labels("tokenizer").observe(0.3, exemplar: [("trace_id", traceID)])
    let durations = try registry.histogram("interop_wait_seconds", help: "Waits, recorded as Durations.", buckets: [0.01, 0.1, 1])
    durations.observe(Duration.milliseconds(5))
    durations.observe(Duration.milliseconds(50))
    durations.observe(Duration.seconds(2))
    func histogramSamples(_ name: String, _ labels: [String: String], _ bounds: [Double], _ values: [Double],
                          exemplarAt: (Int, ExpectedExemplar)? = nil) -> [ExpectedSample] {
        var samples: [ExpectedSample] = []
        for (i, le) in (bounds + [.infinity]).enumerated() {
            var l = labels
            l["le"] = le.isInfinite ? "+Inf" : String(le)
            samples.append(ExpectedSample(name: name + "_bucket", labels: l, value: Double(values.filter { $0 <= le }.count),
                                          exemplar: exemplarAt?.0 == i ? exemplarAt?.1 : nil))
        }
        samples.append(ExpectedSample(name: name + "_count", labels: labels, value: Double(values.count)))
        samples.append(ExpectedSample(name: name + "_sum", labels: labels, value: values.reduce(0, +)))
        return samples
    }
    expected.append(ExpectedFamily(
        name: "interop_latency_seconds", type: "histogram", help: "Latency of a phase.", unit: "seconds",
        samples: histogramSamples("interop_latency_seconds", ["plugin": "tokenizer"], bounds, observations + [0.3],
                                  exemplarAt: (2, ExpectedExemplar(labels: ["trace_id": traceID], value: 0.3)))))
    expected.append(ExpectedFamily(
        name: "interop_wait_seconds", type: "histogram", help: "Waits, recorded as Durations.", unit: nil,
        samples: histogramSamples("interop_wait_seconds", [:], [0.01, 0.1, 1], [0.005, 0.05, 2])))

    // A histogram whose exemplar is a span's ids, kept as numbers and written as hex.
    let traced = try registry.histogram("interop_traced_seconds", help: "Durations with span exemplars.", buckets: [0.1, 1])
    traced.observe(Duration.milliseconds(250), traceIDHigh: 0x4bf9_2f35_77b3_4da6, traceIDLow: 0xa3ce_929d_0e0e_4736, spanID: 0x00f0_67aa_0ba9_02b7)
    expected.append(ExpectedFamily(
        name: "interop_traced_seconds", type: "histogram", help: "Durations with span exemplars.", unit: nil,
        samples: histogramSamples("interop_traced_seconds", [:], [0.1, 1], [0.25],
                                  exemplarAt: (1, ExpectedExemplar(labels: ["trace_id": traceID, "span_id": spanID], value: 0.25)))))

    // A collector's family.
    struct Uptime: Collector {
        var descriptors: [MetricDescriptor] {
            [MetricDescriptor(name: "interop_collected_widgets", help: "Widgets, collected at scrape time.", type: .gauge, labelNames: ["kind"])]
        }
        func collect() -> [CollectedFamily] {
            [CollectedFamily(name: "interop_collected_widgets", samples: [
                CollectedSample(labelValues: ["round"], .gauge(4)), CollectedSample(labelValues: ["square \"box\""], .gauge(2)),
            ])]
        }
    }
    try registry.register(Uptime())
    expected.append(ExpectedFamily(name: "interop_collected_widgets", type: "gauge", help: "Widgets, collected at scrape time.", unit: nil, samples: [
        ExpectedSample(name: "interop_collected_widgets", labels: ["kind": "round"], value: 4),
        ExpectedSample(name: "interop_collected_widgets", labels: ["kind": "square \"box\""], value: 2),
    ]))

    let errors = Registry.metricErrors
    expected.append(ExpectedFamily(
        name: errors.metric.name, type: "counter", help: errors.metric.help, unit: nil,
        samples: MetricErrors.Reason.allCases.map { ExpectedSample(name: errors.name, labels: ["reason": $0.label], value: 0) }))

    try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
    try Data(registry.render(.text)).write(to: outputDirectory.appendingPathComponent("metrics.prom"))
    try Data(registry.render(.openMetrics)).write(to: outputDirectory.appendingPathComponent("metrics.om"))
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "+Inf", negativeInfinity: "-Inf", nan: "NaN")
    try encoder.encode(expected).write(to: outputDirectory.appendingPathComponent("expected.json"))
}

guard CommandLine.arguments.count == 2 else {
    FileHandle.standardError.write("usage: VigilInteropFixture OUTPUT_DIRECTORY\n".data(using: .utf8)!)
    exit(2)
}
do {
    try run(outputDirectory: URL(fileURLWithPath: CommandLine.arguments[1]))
} catch {
    FileHandle.standardError.write("VigilInteropFixture: \(error)\n".data(using: .utf8)!)
    exit(1)
}
