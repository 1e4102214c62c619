import VigilMetrics
import VigilSupport
import XCTest
@testable import VigilOTLP
@testable import VigilTracing

/// The registry's OpenMetrics rendering read as OTLP metrics, and the metric request encoders
/// read back field by field. That opentelemetry-proto agrees is pinned in VigilExportTests
/// (OTLPMetricsExportTests) and in the e2e.
final class OTLPMetricsEncodingTests: XCTestCase {
    let resource = TelemetryResource(attributes: [Attribute("service.name", "checkout")])
    let now: UInt64 = 1_800_000_000_000_000_000

    /// A registry with a counter, a gauge without a declared unit, and a histogram in seconds
    /// holding a traced observation.
    func sampleRegistry() throws -> Registry {
        let registry = Registry()
        try registry.counter("jobs_total", help: "Jobs \"done\".", labelNames: ["queue"]).labels("a\"b\nc").inc(by: 3)
        try registry.gauge("cache_bytes", help: "Cache size.").set(42)
        let latency = try registry.histogram("job_duration_seconds", help: "Job time.", unit: "seconds", buckets: [0.1, 1])
        latency.observe(0.05)
        latency.observe(.milliseconds(500), traceIDHigh: 0x0102_0304_0506_0708, traceIDLow: 0x090A_0B0C_0D0E_0F10, spanID: 0xA1A2_A3A4_A5A6_A7A8)
        return registry
    }

    func read(_ registry: Registry) -> [String: MetricData] {
        let metrics = OpenMetricsReader.metrics(from: registry.render(.openMetrics, includeCreated: true), timeUnixNano: now, defaultStartUnixNano: 7)
        return Dictionary(metrics.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    func testNamesAndUnitsFollowTheCompatibilitySpecification() {
        XCTAssertEqual(OTLPMetricNames.otlp(name: "jobs_total", isCounter: true, unit: nil).name, "jobs", "_total is trimmed from counters")
        XCTAssertEqual(OTLPMetricNames.otlp(name: "jobs_total", isCounter: false, unit: nil).name, "jobs_total", "…only from counters")
        XCTAssertTrue(OTLPMetricNames.otlp(name: "job_duration_seconds", isCounter: false, unit: "seconds") == ("job_duration", "s"))
        XCTAssertTrue(OTLPMetricNames.otlp(name: "process_cpu_seconds_total", isCounter: true, unit: nil) == ("process_cpu", "s"))
        XCTAssertTrue(OTLPMetricNames.otlp(name: "cache_bytes", isCounter: false, unit: nil) == ("cache", "By"), "Vigil's suffix stands for its unit")
        XCTAssertTrue(OTLPMetricNames.otlp(name: "queue_length", isCounter: false, unit: nil) == ("queue_length", ""))
        XCTAssertTrue(OTLPMetricNames.otlp(name: "temperature", isCounter: false, unit: "celsius") == ("temperature", "Cel"), "a unit not in the name stays out of it")
        XCTAssertTrue(OTLPMetricNames.otlp(name: "seconds", isCounter: false, unit: "seconds") == ("seconds", "s"), "a name is never emptied")
    }

    func testTheRenderingBecomesSumsGaugesAndHistogramsWithStartTimesAndExemplars() throws {
        let metrics = read(try sampleRegistry())
        let jobs = try XCTUnwrap(metrics["jobs"], "\(metrics.keys.sorted())")
        XCTAssertEqual(jobs.kind, .monotonicSum)
        XCTAssertEqual(jobs.description, "Jobs \"done\".")
        XCTAssertEqual(jobs.points.map(\.attributes), [[MetricPoint.Label("queue", "a\"b\nc")]], "label values unescaped")
        XCTAssertEqual(jobs.points.first?.value, .number(3))
        let start = try XCTUnwrap(jobs.points.first?.startTimeUnixNano)
        XCTAssertGreaterThan(start, 1_600_000_000_000_000_000, "the series' _created, not the default")
        XCTAssertLessThanOrEqual(start, SystemClock.wallNanoseconds())
        XCTAssertEqual(jobs.points.first?.timeUnixNano, now)

        let cache = try XCTUnwrap(metrics["cache"])
        XCTAssertEqual(cache.kind, .gauge)
        XCTAssertEqual(cache.unit, "By")
        XCTAssertEqual(cache.points.first?.value, .number(42))
        XCTAssertEqual(cache.points.first?.startTimeUnixNano, 0, "gauges have no start")

        let latency = try XCTUnwrap(metrics["job_duration"])
        XCTAssertEqual(latency.kind, .histogram)
        XCTAssertEqual(latency.unit, "s")
        let point = try XCTUnwrap(latency.points.first)
        XCTAssertEqual(point.value, .histogram(count: 2, sum: 0.55, bounds: [0.1, 1], bucketCounts: [1, 1, 0]), "per-bucket counts, not cumulative")
        XCTAssertEqual(point.exemplars.count, 1)
        XCTAssertEqual(point.exemplars.first?.traceID, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])
        XCTAssertEqual(point.exemplars.first?.spanID, [0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8])
        XCTAssertEqual(point.exemplars.first?.value, 0.5)
        XCTAssertGreaterThan(point.exemplars.first?.timeUnixNano ?? 0, 1_600_000_000_000_000_000, "the exemplar's own timestamp")
    }

    func testSeriesWithoutCreatedStartWhenTheProcessDid() {
        let text = """
            # HELP process_start_time_seconds Start time.
            # TYPE process_start_time_seconds gauge
            process_start_time_seconds 1700000000.5
            # HELP process_cpu_seconds Total CPU.
            # TYPE process_cpu_seconds counter
            process_cpu_seconds_total 1.25
            # EOF

            """
        let metrics = OpenMetricsReader.metrics(from: Array(text.utf8), timeUnixNano: now, defaultStartUnixNano: 7)
        let cpu = metrics.first { $0.name == "process_cpu" }
        XCTAssertEqual(cpu?.unit, "s")
        XCTAssertEqual(cpu?.points.first?.startTimeUnixNano, 1_700_000_000_500_000_000)
        XCTAssertEqual(cpu?.points.first?.value, .number(1.25))
        let alone = OpenMetricsReader.metrics(from: Array("# TYPE c counter\nc_total 1\n".utf8), timeUnixNano: now, defaultStartUnixNano: 7)
        XCTAssertEqual(alone.first?.points.first?.startTimeUnixNano, 7, "no process start: the exporter's")
    }

    func testMalformedLinesAreSkippedNeverTrapped() {
        let text = "# TYPE g gauge\ng{a=\"unterminated} 1\ng 2 # {trace_id=\"zz\"} x\ng{b=\"1\"} NaN\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
        let metrics = OpenMetricsReader.metrics(from: Array(text.utf8), timeUnixNano: now, defaultStartUnixNano: 7)
        let gauge = metrics.first { $0.name == "g" }
        XCTAssertEqual(gauge?.points.count, 2)
        XCTAssertEqual(gauge?.points.first?.exemplars, [], "an exemplar without a value is dropped")
        XCTAssertEqual(metrics.first { $0.name == "h" }?.points, [], "a histogram without +Inf is not sent")
    }

    func testProtobufCarriesEveryFieldAtItsNumber() throws {
        let metrics = OpenMetricsReader.metrics(from: try sampleRegistry().render(.openMetrics, includeCreated: true), timeUnixNano: now, defaultStartUnixNano: 7)
        let bytes = OTLPMetricsProtobuf.encode(metrics, resource: resource)
        // ExportMetricsServiceRequest.resource_metrics = 1 → scope_metrics = 2 → metrics = 2
        let resourceMetrics = fields(bytes[...])[1]?.first
        let scopeMetrics = fields(try XCTUnwrap(resourceMetrics))[2]?.first
        let scopeFields = fields(try XCTUnwrap(scopeMetrics))
        let scope = fields(try XCTUnwrap(scopeFields[1]?.first))
        XCTAssertEqual(scope[1].map { $0.map { String(decoding: $0, as: UTF8.self) } }, ["vigil"])
        var byName: [String: [Int: [ArraySlice<UInt8>]]] = [:]
        for metric in scopeFields[2] ?? [] {
            let f = fields(metric)
            byName[String(decoding: f[1]?.first ?? [], as: UTF8.self)] = f
        }
        // Metric.sum = 7: is_monotonic = 3 and aggregation_temporality = 2 (cumulative) as varints.
        let sum = fields(try XCTUnwrap(byName["jobs"]?[7]?.first), varints: true)
        XCTAssertEqual(sum[2]?.first.map(Array.init), [2])
        XCTAssertEqual(sum[3]?.first.map(Array.init), [1])
        let numberPoint = try XCTUnwrap(fields(try XCTUnwrap(byName["jobs"]?[7]?.first))[1]?.first)
        var reader = ProtobufReader(numberPoint)
        var asDouble: Double?
        while let (field, value) = reader.next() {
            if field == 4, case .fixed(let bits) = value { asDouble = Double(bitPattern: bits) }  // as_double = 4
        }
        XCTAssertEqual(asDouble, 3)
        XCTAssertNotNil(byName["cache"]?[5], "Metric.gauge = 5")
        XCTAssertEqual(byName["cache"]?[3]?.first.map { String(decoding: $0, as: UTF8.self) }, "By", "Metric.unit = 3")

        // Metric.histogram = 9 → HistogramDataPoint: bucket_counts = 6, explicit_bounds = 7 packed.
        let histogram = fields(try XCTUnwrap(byName["job_duration"]?[9]?.first))
        let point = fields(try XCTUnwrap(histogram[1]?.first))
        XCTAssertEqual(littleEndian(try XCTUnwrap(point[6]?.first)), [1, 1, 0])
        XCTAssertEqual(littleEndian(try XCTUnwrap(point[7]?.first)).map(Double.init(bitPattern:)), [0.1, 1])
        let exemplar = fields(try XCTUnwrap(point[8]?.first))
        XCTAssertEqual(exemplar[5]?.first.map(Array.init), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], "Exemplar.trace_id = 5")
        XCTAssertEqual(exemplar[4]?.first.map(Array.init), [0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8], "Exemplar.span_id = 4")
    }

    func testJSONFollowsTheOTLPMapping() throws {
        let metrics = OpenMetricsReader.metrics(from: try sampleRegistry().render(.openMetrics, includeCreated: true), timeUnixNano: now, defaultStartUnixNano: 7)
        let document = try XCTUnwrap(JSONValue.parse(OTLPMetricsJSON.encode(metrics, resource: resource)))
        guard case .array(let resourceMetrics) = document["resourceMetrics"], let first = resourceMetrics.first,
              case .array(let scopeMetrics) = first["scopeMetrics"], let scope = scopeMetrics.first,
              case .array(let all) = scope["metrics"] else {
            return XCTFail("not an ExportMetricsServiceRequest: \(document)")
        }
        XCTAssertEqual(scope["scope"]?["name"], .string("vigil"))
        let byName = Dictionary(all.compactMap { m in m["name"]?.string.map { ($0, m) } }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(byName["jobs"]?["sum"]?["isMonotonic"], .bool(true))
        XCTAssertEqual(byName["jobs"]?["sum"]?["aggregationTemporality"], .number(2))
        guard case .array(let points) = byName["job_duration"]?["histogram"]?["dataPoints"], let point = points.first,
              case .array(let exemplars) = point["exemplars"] else {
            return XCTFail("no histogram point: \(String(describing: byName["job_duration"]))")
        }
        XCTAssertEqual(point["count"], .string("2"), "64-bit integers are strings")
        XCTAssertEqual(point["bucketCounts"], .array([.string("1"), .string("1"), .string("0")]))
        XCTAssertEqual(point["explicitBounds"], .array([.number(0.1), .number(1)]))
        XCTAssertEqual(exemplars.first?["traceId"], .string("0102030405060708090a0b0c0d0e0f10"), "ids are hex")
    }

    // MARK: Reading protobuf

    /// The length-delimited fields of a message by number (or, with `varints`, the varint fields'
    /// values, one byte each when below 128).
    func fields(_ message: ArraySlice<UInt8>, varints: Bool = false) -> [Int: [ArraySlice<UInt8>]] {
        var reader = ProtobufReader(message)
        var out: [Int: [ArraySlice<UInt8>]] = [:]
        while let (field, value) = reader.next() {
            switch value {
            case .bytes(let b) where !varints: out[field, default: []].append(b)
            case .varint(let v) where varints: out[field, default: []].append([UInt8(truncatingIfNeeded: v)][...])
            default: break
            }
        }
        return out
    }

    /// A packed fixed64 field's values.
    func littleEndian(_ bytes: ArraySlice<UInt8>) -> [UInt64] {
        stride(from: bytes.startIndex, to: bytes.endIndex, by: 8).map { start in
            bytes[start..<start + 8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << UInt64(8 * $1.offset) }
        }
    }
}
