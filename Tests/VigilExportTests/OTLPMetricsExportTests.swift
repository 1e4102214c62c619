import Foundation
import VigilContract
import VigilMetrics
import VigilSupport
import VigilTestSupport
import VigilTracing
import XCTest
@testable import VigilExport

/// Metric pushes decoded by the Python receiver with opentelemetry-proto, and the exporter's
/// OpenTelemetry variables.
final class OTLPMetricsExportTests: XCTestCase {
    func registry() throws -> Registry {
        let registry = Registry()
        try registry.counter("jobs_total", help: "Jobs done.", labelNames: ["queue"]).labels("fast").inc(by: 5)
        try registry.gauge("cache_bytes", help: "Cache size.").set(1024)
        let latency = try registry.histogram("job_duration_seconds", help: "Job time.", unit: "seconds", buckets: [0.1, 1])
        latency.observe(0.05)
        latency.observe(.milliseconds(250), traceIDHigh: 0xAB, traceIDLow: 0xCD, spanID: 0xEF)
        return registry
    }

    func exportAndDecode(encoding: OTLPConfiguration.Encoding, gzip: Bool) async throws {
        let receiver = try OTLPReceiver()
        let registry = try registry()
        let resource = TelemetryResource.detect(serviceName: "metrics-test", serviceVersion: "9.9", environment: [:])
        let exporter = OTLPMetricsExporter(
            configuration: OTLPMetricsConfiguration(enabled: true, endpoint: receiver.url("/v1/metrics"), headers: [("Authorization", "Bearer m3")],
                                                    gzip: gzip, encoding: encoding),
            registry: registry, resource: resource)
        guard case .success = await exporter.push() else { return XCTFail("not delivered") }
        let requests = try await receiver.received()
        let request = try XCTUnwrap(requests.first)
        XCTAssertNil(request.error, request.error ?? "")
        XCTAssertEqual(request.gzip, gzip)
        XCTAssertEqual(request.authorization, "Bearer m3")
        let points = try XCTUnwrap(request.metrics)
        let byName = Dictionary(grouping: points, by: \.name)

        let jobs = try XCTUnwrap(byName["jobs"]?.first, "\(byName.keys.sorted())")
        XCTAssertEqual(jobs.type, "sum")
        XCTAssertEqual(jobs.monotonic, true)
        XCTAssertEqual(jobs.temporality, 2, "cumulative")
        XCTAssertEqual(jobs.value, 5)
        XCTAssertEqual(jobs.attributes, ["queue": .string("fast")])
        XCTAssertGreaterThan(jobs.start, 0)
        XCTAssertLessThanOrEqual(jobs.start, jobs.time)
        XCTAssertEqual(jobs.resource["service.name"], .string("metrics-test"))
        XCTAssertEqual(jobs.scope, ["name": "vigil", "version": VigilVersion.current])

        let cache = try XCTUnwrap(byName["cache"]?.first)
        XCTAssertEqual(cache.type, "gauge")
        XCTAssertEqual(cache.unit, "By")
        XCTAssertEqual(cache.value, 1024)

        let latency = try XCTUnwrap(byName["job_duration"]?.first)
        XCTAssertEqual(latency.type, "histogram")
        XCTAssertEqual(latency.unit, "s")
        XCTAssertEqual(latency.temporality, 2)
        XCTAssertEqual(latency.count, 2)
        XCTAssertEqual(latency.sum ?? 0, 0.3, accuracy: 1e-9)
        XCTAssertEqual(latency.bounds, [0.1, 1])
        XCTAssertEqual(latency.bucket_counts, [1, 1, 0])
        XCTAssertEqual(latency.exemplars.map(\.trace_id), ["00000000000000ab00000000000000cd"])
        XCTAssertEqual(latency.exemplars.map(\.span_id), ["00000000000000ef"])
        XCTAssertEqual(latency.exemplars.map(\.value), [0.25])

        XCTAssertNotNil(byName["vigil_push"], "the exporter's own counter is pushed too")
    }

    func testProtobufPushDecodesWithOpentelemetryProto() async throws {
        try await exportAndDecode(encoding: .protobuf, gzip: true)
    }

    func testJSONPushDecodesWithOpentelemetryProto() async throws {
        try await exportAndDecode(encoding: .json, gzip: false)
    }

    func testRunPushesOnItsIntervalAndOnceMoreWhenCancelled() async throws {
        let receiver = try OTLPReceiver()
        let registry = try registry()
        var configuration = OTLPMetricsConfiguration(enabled: true, endpoint: receiver.url("/v1/metrics"))
        configuration.interval = .milliseconds(100)
        let exporter = OTLPMetricsExporter(configuration: configuration, registry: registry, resource: TelemetryResource(attributes: []))
        let run = Task { await exporter.run() }
        try await waitUntil("two periodic pushes") { try await receiver.received().count >= 2 }
        run.cancel()
        await run.value
        let before = try await receiver.received().count
        XCTAssertGreaterThanOrEqual(before, 3, "the last push on the way out")
        XCTAssertTrue(registry.renderString().contains("vigil_push_total{target=\"otlp_metrics\",result=\"failure\"} 0\n"))
    }

    func testEnvironmentFollowsTheSpecification() throws {
        let off = try OTLPMetricsConfiguration.fromEnvironment([:])
        XCTAssertFalse(off.enabled, "Vigil pushes metrics only when asked")
        XCTAssertEqual(off.interval, .seconds(60))
        XCTAssertEqual(off.exportTimeout, .seconds(30))

        let general = try OTLPMetricsConfiguration.fromEnvironment([
            "OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
            "OTEL_METRIC_EXPORT_INTERVAL": "5000", "OTEL_METRIC_EXPORT_TIMEOUT": "2500",
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=a%20b", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
        ])
        XCTAssertTrue(general.enabled)
        XCTAssertEqual(general.endpoint, "http://collector:4318/v1/metrics", "the general endpoint gets the signal's path")
        XCTAssertEqual(general.interval, .seconds(5))
        XCTAssertEqual(general.exportTimeout, .milliseconds(2500))
        XCTAssertEqual(general.headers.map(\.value), ["a b"])
        XCTAssertEqual(general.encoding, .json)

        let specific = try OTLPMetricsConfiguration.fromEnvironment([
            "OTEL_METRICS_EXPORTER": "otlp,prometheus", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://metrics:9000/custom", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": "none", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "1500",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json", "OTEL_METRIC_EXPORT_INTERVAL": "soon",
        ])
        XCTAssertTrue(specific.enabled)
        XCTAssertEqual(specific.endpoint, "http://metrics:9000/custom", "the signal's own endpoint is used as it is")
        XCTAssertFalse(specific.gzip, "the signal's variable wins")
        XCTAssertEqual(specific.timeout, .milliseconds(1500))
        XCTAssertEqual(specific.encoding, .protobuf, "the traces' variable is not the metrics'")
        XCTAssertEqual(specific.interval, .seconds(60), "a value that does not parse is ignored")

        var on = OTLPMetricsConfiguration()
        on.enabled = true
        XCTAssertFalse(try OTLPMetricsConfiguration.fromEnvironment(["OTEL_METRICS_EXPORTER": "none"], base: on).enabled, "none disables")
        XCTAssertFalse(try OTLPMetricsConfiguration.fromEnvironment(["OTEL_METRICS_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "TRUE"]).enabled,
                       "a disabled SDK exports nothing")
        XCTAssertThrowsError(try OTLPMetricsConfiguration.fromEnvironment(["OTEL_METRICS_EXPORTER": "console"])) { error in
            XCTAssertTrue("\(error)".hasPrefix("OTEL_METRICS_EXPORTER: \"console\" is not an exporter Vigil has"), "\(error)")
        }
    }

    func testTheSameCollectorAsTheTraces() {
        let traces = OTLPConfiguration(tracesEndpoint: "https://collector:4318/v1/traces", headers: [("api-key", "k")], gzip: false, encoding: .json)
        let metrics = OTLPMetricsConfiguration(sameCollectorAs: traces)
        XCTAssertEqual(metrics.endpoint, "https://collector:4318/v1/metrics")
        XCTAssertEqual(metrics.headers.map(\.name), ["api-key"])
        XCTAssertFalse(metrics.gzip)
        XCTAssertEqual(metrics.encoding, .json)
        XCTAssertFalse(metrics.description.contains("\"k\""), metrics.description)
    }
}
