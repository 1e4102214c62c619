import XCTest
@testable import VigilMetrics

final class EncodingTests: XCTestCase {
    func makeRegistry() throws -> Registry {
        let registry = Registry()
        let requests = try registry.counter("http_requests_total", help: "Requests served.", labelNames: ["method", "path"])
        requests.labels("GET", "/a").inc(by: 3)
        requests.labels("POST", "/b").inc(by: 1.5)
        try registry.gauge("temperature_celsius", help: "Temperature.", unit: "celsius").set(21.5)
        let latency = try registry.histogram("latency_seconds", help: "Latency.", unit: "seconds", buckets: [0.1, 1])
        latency.observe(0.05)
        latency.observe(2)
        return registry
    }

    func testTextFormatIsExact() throws {
        let text = try makeRegistry().renderString(.text)
        XCTAssertEqual(text, """
            # HELP http_requests_total Requests served.
            # TYPE http_requests_total counter
            http_requests_total{method="GET",path="/a"} 3
            http_requests_total{method="POST",path="/b"} 1.5
            # HELP latency_seconds Latency.
            # TYPE latency_seconds histogram
            latency_seconds_bucket{le="0.1"} 1
            latency_seconds_bucket{le="1"} 1
            latency_seconds_bucket{le="+Inf"} 2
            latency_seconds_count 2
            latency_seconds_sum 2.05
            # HELP temperature_celsius Temperature.
            # TYPE temperature_celsius gauge
            temperature_celsius 21.5
            # HELP vigil_metric_errors_total Samples dropped instead of recorded, by reason.
            # TYPE vigil_metric_errors_total counter
            vigil_metric_errors_total{reason="invalid_collected_sample"} 0
            vigil_metric_errors_total{reason="invalid_exemplar"} 0
            vigil_metric_errors_total{reason="label_count_mismatch"} 0
            vigil_metric_errors_total{reason="nan_observation"} 0
            vigil_metric_errors_total{reason="negative_increment"} 0
            vigil_metric_errors_total{reason="non_finite_increment"} 0
            vigil_metric_errors_total{reason="registration_conflict"} 0

            """)
    }

    func testOpenMetricsIsExact() throws {
        let text = try makeRegistry().renderString(.openMetrics)
        XCTAssertEqual(text, """
            # HELP http_requests Requests served.
            # TYPE http_requests counter
            http_requests_total{method="GET",path="/a"} 3
            http_requests_total{method="POST",path="/b"} 1.5
            # HELP latency_seconds Latency.
            # TYPE latency_seconds histogram
            # UNIT latency_seconds seconds
            latency_seconds_bucket{le="0.1"} 1
            latency_seconds_bucket{le="1.0"} 1
            latency_seconds_bucket{le="+Inf"} 2
            latency_seconds_count 2
            latency_seconds_sum 2.05
            # HELP temperature_celsius Temperature.
            # TYPE temperature_celsius gauge
            # UNIT temperature_celsius celsius
            temperature_celsius 21.5
            # HELP vigil_metric_errors Samples dropped instead of recorded, by reason.
            # TYPE vigil_metric_errors counter
            vigil_metric_errors_total{reason="invalid_collected_sample"} 0
            vigil_metric_errors_total{reason="invalid_exemplar"} 0
            vigil_metric_errors_total{reason="label_count_mismatch"} 0
            vigil_metric_errors_total{reason="nan_observation"} 0
            vigil_metric_errors_total{reason="negative_increment"} 0
            vigil_metric_errors_total{reason="non_finite_increment"} 0
            vigil_metric_errors_total{reason="registration_conflict"} 0
            # EOF

            """)
    }

    func testCreatedSamplesAreOptional() throws {
        let registry = Registry()
        let c = try registry.counter("c_total", help: "C.")
        _ = try registry.histogram("h", help: "H.", buckets: [1])
        XCTAssertFalse(registry.renderString(.openMetrics).contains("_created"))
        let om = registry.renderString(.openMetrics, includeCreated: true)
        XCTAssertTrue(om.contains("c_created \(NumberFormatting.text(c.created))\n"), om)
        XCTAssertTrue(om.contains("h_created "), om)
    }

    func testLabelValuesAreEscapedAsTheSpecsSay() throws {
        let registry = Registry()
        let family = try registry.gauge("g", help: "G.", labelNames: ["v"])
        family.labels("a\"b\\c\nd\te ü 日本").set(1)
        family.labels("").set(2)
        let expected = "g{v=\"a\\\"b\\\\c\\nd\te ü 日本\"} 1\n"
        XCTAssertTrue(registry.renderString(.text).contains(expected), registry.renderString(.text))
        XCTAssertTrue(registry.renderString(.openMetrics).contains(expected))
        XCTAssertTrue(registry.renderString(.text).contains("g{v=\"\"} 2\n"))
    }

    func testHelpIsEscapedPerFormat() throws {
        let registry = Registry()
        _ = try registry.gauge("g", help: "a \"quoted\" back\\slash\nnewline")
        XCTAssertTrue(registry.renderString(.text).contains("# HELP g a \"quoted\" back\\\\slash\\nnewline\n"))
        XCTAssertTrue(registry.renderString(.openMetrics).contains("# HELP g a \\\"quoted\\\" back\\\\slash\\nnewline\n"))
    }

    func testFloatsUseShortestRoundTripForm() {
        let cases: [(Double, String)] = [
            (0, "0"), (1, "1"), (-2, "-2"), (0.1, "0.1"), (1e-05, "1e-05"), (0.30000000000000004, "0.30000000000000004"),
            (1e300, "1e+300"), (.infinity, "+Inf"), (-.infinity, "-Inf"), (.nan, "NaN"), (123456.789, "123456.789"),
            (.leastNonzeroMagnitude, "5e-324"), (0x1p53, "9007199254740992"), (0x1p60, "1.152921504606847e+18"),
        ]
        for (value, expected) in cases {
            let writer = ExpositionWriter(format: .text, includeCreated: false, capacity: 32)
            writer.double(value)
            XCTAssertEqual(String(decoding: writer.bytes, as: UTF8.self), expected, "\(value)")
            if value.isFinite { XCTAssertEqual(Double(expected), value) }
        }
        XCTAssertEqual(NumberFormatting.openMetricsCanonical(1), "1.0")
        XCTAssertEqual(NumberFormatting.openMetricsCanonical(0.25), "0.25")
        XCTAssertEqual(NumberFormatting.openMetricsCanonical(.infinity), "+Inf")
    }

    func testOutputOrderIsDeterministic() throws {
        func build(_ order: [String]) throws -> String {
            let registry = Registry()
            for name in order { _ = try registry.gauge(name, help: "H.", labelNames: ["k"]).labels(name + "v").set(1) }
            let family = try registry.counter("zz_total", help: "Z.", labelNames: ["k"])
            for k in order { family.labels(k).inc() }
            return registry.renderString()
        }
        XCTAssertEqual(try build(["b", "a", "c"]), try build(["c", "b", "a"]))
    }

    func testContentTypes() {
        XCTAssertEqual(ExpositionFormat.text.contentType, "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertEqual(ExpositionFormat.openMetrics.contentType, "application/openmetrics-text; version=1.0.0; charset=utf-8")
    }

    func testNegotiationPicksHighestQualityAndDefaultsToText() {
        let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        let cases: [(String?, ExpositionFormat)] = [
            (nil, .text), ("", .text), ("*/*", .text), ("text/plain", .text),
            (prometheus, .openMetrics),
            ("application/openmetrics-text", .openMetrics),
            ("application/openmetrics-text; version=1.0.0", .openMetrics),
            ("text/plain;q=0.9, application/openmetrics-text;q=0.8", .text),
            ("text/plain;q=0.1, application/openmetrics-text;q=0.8", .openMetrics),
            ("application/openmetrics-text;q=0, text/plain", .text),
            ("application/openmetrics-text;version=2.0.0", .text),
            ("application/json", .text),
            ("APPLICATION/OpenMetrics-Text ; q=0.7 , text/plain;q=0.5", .openMetrics),
            ("application/openmetrics-text;q=garbage", .text),
            ("text/plain;version=0.0.4;q=0.3,application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7", .text),
        ]
        for (accept, expected) in cases {
            XCTAssertEqual(ExpositionFormat.negotiate(accept: accept), expected, accept ?? "nil")
        }
    }
}
