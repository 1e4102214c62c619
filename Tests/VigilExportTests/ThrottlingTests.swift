import Foundation
import VigilContract
import VigilMetrics
import VigilTestSupport
import XCTest
@testable import VigilTracing
@testable import VigilExport

/// An outage server (the Python receiver) answers 503 with `Retry-After: 2` and records, on its
/// own monotonic clock, when each request arrived and when each answer started to go out. Each
/// push client gives up on its first push after one attempt and pushes again at once: the
/// second request must not arrive within two seconds of the 503's answer, however noisy the
/// machine (the client cannot read the answer before the server starts writing it, and the
/// server cannot see the next request before the client sends it).
final class ThrottlingTests: XCTestCase {
    static let window = 2.0

    var oneAttempt: RetryPolicy {
        var retry = RetryPolicy()
        retry.maxAttempts = 1
        return retry
    }

    /// Pushes twice with `push`, the first push answered 503 + `Retry-After: 2`; checks the gap on
    /// the server's clock and returns the two requests.
    func assertSecondPushWaitsOutTheWindow(_ receiver: OTLPReceiver, path: String, file: StaticString = #filePath, line: UInt = #line,
                                           push: () async -> Void) async throws -> [OTLPReceiver.Received] {
        try await receiver.script([["status": 503, "retry_after": "2"]])
        await push()
        await push()
        let received = try await receiver.received().filter { $0.path.hasPrefix(path) }
        XCTAssertEqual(received.map(\.answered), [503, 200], file: file, line: line)
        guard received.count == 2, let answered = received[0].answering else { return received }
        let gap = received[1].arrived - answered
        // A millisecond for the rounding of two readings of one clock; a client that ignored the
        // hold sends within milliseconds, far below this bound.
        XCTAssertGreaterThanOrEqual(gap, Self.window - 0.001, "the next push came \(gap) s after the 503, inside Retry-After: 2", file: file, line: line)
        return received
    }

    func throttledSeconds(_ registry: Registry, _ target: String) -> Double {
        let prefix = "vigil_push_throttled_seconds_total{target=\"\(target)\"} "
        let line = registry.renderString().split(separator: "\n").first { $0.hasPrefix(prefix) }
        return line.flatMap { Double($0.dropFirst(prefix.count)) } ?? -1
    }

    func testTracesAreHeldForTheWholeRetryAfterWindowWhateverBatchTheyCarry() async throws {
        let receiver = try OTLPReceiver()
        let registry = Registry()
        let resource = TelemetryResource(attributes: [Attribute("service.name", "throttle-test")])
        let exporter = OTLPHTTPExporter(configuration: OTLPConfiguration(tracesEndpoint: receiver.endpoint, retry: oneAttempt),
                                        resource: resource, registry: registry)
        var batch = 0
        let received = try await assertSecondPushWaitsOutTheWindow(receiver, path: "/v1/traces") {
            batch += 1
            let span = SpanData(name: "batch-\(batch)", context: SpanContext(traceID: .random(), spanID: .random()), parentSpanID: nil,
                                kind: .internal, startTimeUnixNano: 1, endTimeUnixNano: 2, attributes: [], events: [], links: [],
                                status: .unset, droppedAttributes: 0, droppedEvents: 0, droppedLinks: 0)
            _ = await exporter.export([span])
        }
        XCTAssertEqual(received.last?.spans?.map(\.name), ["batch-2"], "the second batch is another batch, and it waited")
        XCTAssertGreaterThan(throttledSeconds(registry, "otlp"), 0, "the wait is counted")
    }

    func testMetricPushesAreHeldForTheWindow() async throws {
        let receiver = try OTLPReceiver()
        let registry = Registry()
        try registry.counter("jobs_total", help: "Jobs.").inc()
        let exporter = OTLPMetricsExporter(
            configuration: OTLPMetricsConfiguration(enabled: true, endpoint: receiver.url("/v1/metrics"), retry: oneAttempt),
            registry: registry, resource: TelemetryResource(attributes: []))
        _ = try await assertSecondPushWaitsOutTheWindow(receiver, path: "/v1/metrics") { await exporter.push() }
        XCTAssertGreaterThan(throttledSeconds(registry, "otlp_metrics"), 0)
    }

    func testPushgatewayPushesAreHeldForTheWindow() async throws {
        let receiver = try OTLPReceiver()
        let registry = Registry()
        var configuration = PushgatewayClient.Configuration(url: receiver.url(""), job: "throttled")
        configuration.retry = oneAttempt
        let client = PushgatewayClient(configuration: configuration, registry: registry)
        let received = try await assertSecondPushWaitsOutTheWindow(receiver, path: "/metrics/job/throttled") { await client.push() }
        XCTAssertEqual(received.map(\.method), ["PUT", "PUT"])
        XCTAssertGreaterThan(throttledSeconds(registry, "pushgateway"), 0)
    }

    func testRetriesOfOnePushWaitOutTheWindowToo() async throws {
        let receiver = try OTLPReceiver()
        let registry = Registry()
        try registry.counter("jobs_total", help: "Jobs.").inc()
        let exporter = OTLPMetricsExporter(
            configuration: OTLPMetricsConfiguration(enabled: true, endpoint: receiver.url("/v1/metrics")),
            registry: registry, resource: TelemetryResource(attributes: []))
        try await receiver.script([["status": 429, "retry_after": "2"]])
        guard case .success = await exporter.push() else { return XCTFail("the retry was not delivered") }
        let received = try await receiver.received()
        XCTAssertEqual(received.map(\.answered), [429, 200])
        let gap = received[1].arrived - (received[0].answering ?? .infinity)
        XCTAssertGreaterThanOrEqual(gap, Self.window - 0.001, "the retry came \(gap) s after the 429")
    }
}
