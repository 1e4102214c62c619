import Foundation
import Metrics
import VigilMetrics
import XCTest
@testable import VigilSwiftMetrics

/// The behaviours swift-metrics' own MetricsTestKit checks of a backend, where they apply to a
/// Prometheus registry, and promtool's verdict on the result.
final class VigilMetricsFactoryTests: XCTestCase {
    func testEveryKindOfSwiftMetricLandsInTheRegistry() throws {
        let registry = Registry()
        let factory = VigilMetricsFactory(registry: registry, buckets: [0.01, 0.1, 1])
        let requests = Metrics.Counter(label: "http.requests", dimensions: [("method", "GET"), ("status", "200")], factory: factory)
        requests.increment()
        requests.increment(by: 4)
        // The same label and dimensions, in another order, is the same series.
        Metrics.Counter(label: "http.requests", dimensions: [("status", "200"), ("method", "GET")], factory: factory).increment()
        let bytes = FloatingPointCounter(label: "bytes.sent", factory: factory)
        bytes.increment(by: 1.5)
        bytes.increment(by: 2.25)
        let connections = Meter(label: "connections", factory: factory)
        connections.set(10)
        connections.increment(by: 2)
        connections.decrement(by: 5)
        Recorder(label: "queue.depth", aggregate: false, factory: factory).record(7)
        let sizes = Recorder(label: "payload.size", aggregate: true, factory: factory)
        sizes.record(0.05)
        sizes.record(Int64(2))
        let latency = Metrics.Timer(label: "db.query", dimensions: [("table", "users")], factory: factory)
        latency.recordNanoseconds(5_000_000)
        latency.recordMilliseconds(200)
        let text = registry.renderString()
        for line in [
            "http_requests_total{method=\"GET\",status=\"200\"} 6",
            "bytes_sent_total 3.75",
            "connections 7",
            "queue_depth 7",
            "payload_size_bucket{le=\"0.1\"} 1",
            "payload_size_count 2",
            "db_query_seconds_bucket{table=\"users\",le=\"0.01\"} 1",
            "db_query_seconds_bucket{table=\"users\",le=\"1\"} 2",
            "db_query_seconds_sum{table=\"users\"} 0.205",
        ] {
            XCTAssertTrue(text.contains(line + "\n"), "missing \(line) in:\n\(text)")
        }
    }

    func testLabelsAreSanitisedIntoValidNames() {
        XCTAssertEqual(VigilMetricsFactory.sanitize("http.server.requests"), "http_server_requests")
        XCTAssertEqual(VigilMetricsFactory.sanitize("9lives"), "_9lives")
        XCTAssertEqual(VigilMetricsFactory.sanitize("a-b c/d"), "a_b_c_d")
        XCTAssertEqual(VigilMetricsFactory.sanitize("ns:name"), "ns:name")
        XCTAssertEqual(VigilMetricsFactory.sanitize("ns:name", allowColon: false), "ns_name")
        XCTAssertEqual(VigilMetricsFactory.sanitize("__reserved"), "_reserved")
        XCTAssertEqual(VigilMetricsFactory.sanitize(""), "_")
    }

    func testAConflictingMetricIsCountedNotCrashed() {
        let registry = Registry()
        let factory = VigilMetricsFactory(registry: registry)
        Metrics.Counter(label: "jobs", dimensions: [("queue", "a")], factory: factory).increment()
        Metrics.Counter(label: "jobs", dimensions: [("host", "b")], factory: factory).increment()  // other label names
        Meter(label: "jobs", factory: factory).set(1)  // another type
        Metrics.Counter(label: "negative", factory: factory).increment(by: -3)
        XCTAssertEqual(registry.errors.count(.registrationConflict), 2)
        XCTAssertEqual(registry.errors.count(.negativeIncrement), 1)
        XCTAssertTrue(registry.renderString().contains("jobs_total{queue=\"a\"} 1\n"))
    }

    func testTheOutputPassesPromtool() throws {
        let registry = Registry()
        let factory = VigilMetricsFactory(registry: registry)
        Metrics.Counter(label: "app.requests", dimensions: [("path", "/x")], factory: factory).increment()
        Metrics.Timer(label: "app.latency", factory: factory).recordMilliseconds(12)
        Meter(label: "app.workers", factory: factory).set(3)
        guard let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("promtool is not installed: run `make test` (scripts/setup installs it)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: promtool)
        process.arguments = ["check", "metrics"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(registry.render(.text)))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, said)
    }

    func testDestroyTakesTheHandlersSeriesOutOfTheNextScrape() throws {
        let registry = Registry()
        let factory = VigilMetricsFactory(registry: registry)
        let kept = Metrics.Counter(label: "jobs", dimensions: [("queue", "kept")], factory: factory)
        let dropped = Metrics.Counter(label: "jobs", dimensions: [("queue", "dropped")], factory: factory)
        let meter = Meter(label: "workers", dimensions: [("pool", "a")], factory: factory)
        let timer = Metrics.Timer(label: "step", dimensions: [("step", "b")], factory: factory)
        kept.increment()
        dropped.increment()
        meter.set(3)
        timer.recordMilliseconds(5)
        dropped.destroy()
        meter.destroy()
        timer.destroy()
        let text = registry.renderString()
        XCTAssertTrue(text.contains("jobs_total{queue=\"kept\"} 1"), text)
        XCTAssertFalse(text.contains("queue=\"dropped\""), text)
        XCTAssertFalse(text.contains("workers{"), text)
        XCTAssertFalse(text.contains("step=\"b\""), text)
        // Made again, it starts afresh.
        Metrics.Counter(label: "jobs", dimensions: [("queue", "dropped")], factory: factory).increment()
        XCTAssertTrue(registry.renderString().contains("jobs_total{queue=\"dropped\"} 1"))
    }
}
