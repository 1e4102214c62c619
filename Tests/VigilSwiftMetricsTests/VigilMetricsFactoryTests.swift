import Foundation
import Metrics
@testable import VigilMetrics
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

    // MARK: The handler cache

    func testMakingALabelAndDimensionsAgainReturnsTheSameSeries() {
        let registry = Registry()
        let factory = VigilMetricsFactory(registry: registry)
        let dimensions = [("method", "GET"), ("status", "200")]
        let first = factory.makeCounter(label: "http.requests", dimensions: dimensions)
        let second = factory.makeCounter(label: "http.requests", dimensions: dimensions)
        XCTAssertTrue(first as AnyObject === second as AnyObject)
        XCTAssertTrue(factory.makeFloatingPointCounter(label: "http.requests", dimensions: dimensions) as AnyObject === first as AnyObject)
        // Another order is another key for the same series.
        let reordered = factory.makeCounter(label: "http.requests", dimensions: [("status", "200"), ("method", "GET")])
        XCTAssertTrue(reordered as AnyObject === first as AnyObject)
        let meter = factory.makeMeter(label: "pool", dimensions: [])
        XCTAssertTrue(factory.makeMeter(label: "pool", dimensions: []) as AnyObject === meter as AnyObject)
        XCTAssertTrue(factory.makeRecorder(label: "pool", dimensions: [], aggregate: false) as AnyObject === meter as AnyObject)
        let sizes = factory.makeRecorder(label: "sizes", dimensions: [("a", "b")], aggregate: true)
        XCTAssertTrue(factory.makeRecorder(label: "sizes", dimensions: [("a", "b")], aggregate: true) as AnyObject === sizes as AnyObject)
        let timer = factory.makeTimer(label: "sizes", dimensions: [("a", "b")])
        XCTAssertFalse(timer as AnyObject === sizes as AnyObject, "a timer is a histogram of its own, in seconds")
        XCTAssertTrue(factory.makeTimer(label: "sizes", dimensions: [("a", "b")]) as AnyObject === timer as AnyObject)
        first.increment(by: 2)
        second.increment(by: 3)
        XCTAssertTrue(registry.renderString().contains("http_requests_total{method=\"GET\",status=\"200\"} 5\n"))
    }

    func testADestroyedHandlerIsNeverReturnedAgainAndAFreshOneStartsFromZero() {
        let registry = Registry()
        let factory = VigilMetricsFactory(registry: registry)
        for kind in ["counter", "meter", "recorder", "histogram", "timer"] {
            let make: () -> AnyObject = {
                switch kind {
                case "counter": factory.makeCounter(label: "k", dimensions: [("x", "1")])
                case "meter": factory.makeMeter(label: "m", dimensions: [("x", "1")])
                case "recorder": factory.makeRecorder(label: "m", dimensions: [("x", "1")], aggregate: false)
                case "histogram": factory.makeRecorder(label: "h", dimensions: [("x", "1")], aggregate: true)
                default: factory.makeTimer(label: "t", dimensions: [("x", "1")])
                }
            }
            let old = make()
            XCTAssertTrue(make() === old, kind)
            switch kind {
            case "counter": factory.destroyCounter(old as! CounterHandler)
            case "meter": factory.destroyMeter(old as! MeterHandler)
            case "timer": factory.destroyTimer(old as! TimerHandler)
            default: factory.destroyRecorder(old as! RecorderHandler)
            }
            let fresh = make()
            XCTAssertFalse(fresh === old, "\(kind): the destroyed handler came back from the cache")
            XCTAssertTrue(make() === fresh, kind)
        }
        let old = factory.makeCounter(label: "k", dimensions: [("x", "1")])
        old.increment(by: 7)
        factory.destroyCounter(old)
        old.increment(by: 100)  // still works, unexported
        factory.makeCounter(label: "k", dimensions: [("x", "1")]).increment(by: 1)
        let text = registry.renderString()
        XCTAssertTrue(text.contains("k_total{x=\"1\"} 1\n"), text)
        XCTAssertFalse(text.contains("k_total{x=\"1\"} 10"), text)
    }

    func testDestroyForgetsEveryKeyOfTheSeries() {
        let registry = Registry()
        let factory = VigilMetricsFactory(registry: registry)
        let a = factory.makeCounter(label: "jobs", dimensions: [("q", "a"), ("r", "b")])
        let b = factory.makeCounter(label: "jobs", dimensions: [("r", "b"), ("q", "a")])
        XCTAssertTrue(a as AnyObject === b as AnyObject)
        XCTAssertEqual(factory.cachedHandlerCount, 2)
        factory.destroyCounter(b)
        XCTAssertEqual(factory.cachedHandlerCount, 0)
        let again = factory.makeCounter(label: "jobs", dimensions: [("q", "a"), ("r", "b")])
        XCTAssertFalse(again as AnyObject === a as AnyObject)
        XCTAssertTrue(factory.makeCounter(label: "jobs", dimensions: [("r", "b"), ("q", "a")]) as AnyObject === again as AnyObject)
    }

    func testAMakeAfterTheRegistryRemovedTheSeriesRecordsIntoAnExportedOne() {
        let registry = Registry()
        let factory = VigilMetricsFactory(registry: registry)
        let old = factory.makeCounter(label: "calls", dimensions: [("plugin", "ocr")])
        old.increment(by: 1)
        XCTAssertEqual(registry.removeSeries(matching: ["plugin": "ocr"]), 1)
        let fresh = factory.makeCounter(label: "calls", dimensions: [("plugin", "ocr")])
        XCTAssertFalse(fresh as AnyObject === old as AnyObject)
        fresh.increment(by: 2)
        XCTAssertTrue(registry.renderString().contains("calls_total{plugin=\"ocr\"} 2\n"))
    }

    func testTheOverflowSeriesIsNotCachedSoRoomFreedLaterIsUsed() throws {
        let registry = Registry(defaultSeriesLimit: 1)
        let factory = VigilMetricsFactory(registry: registry)
        let first = factory.makeCounter(label: "c", dimensions: [("k", "1")])
        let overflow = factory.makeCounter(label: "c", dimensions: [("k", "2")])
        overflow.increment(by: 1)
        XCTAssertTrue(registry.renderString().contains("c_total{k=\"__overflow__\"} 1\n"))
        factory.destroyCounter(first)
        factory.makeCounter(label: "c", dimensions: [("k", "2")]).increment(by: 4)
        XCTAssertTrue(registry.renderString().contains("c_total{k=\"2\"} 4\n"))
    }

    func testARefusedMetricIsCountedOnEveryMake() {
        let registry = Registry()
        let factory = VigilMetricsFactory(registry: registry)
        _ = factory.makeCounter(label: "jobs", dimensions: [("queue", "a")])
        for _ in 0..<3 { factory.makeCounter(label: "jobs", dimensions: [("host", "b")]).increment(by: 1) }
        XCTAssertEqual(registry.errors.count(.registrationConflict), 3)
    }

    func testConcurrentMakesAndDestroysKeepOneLiveSeriesPerKey() {
        // Frees garbage on every removal, so that freed entries are reused as often as possible.
        MetricFamilyTuning.garbageBatch = 1
        defer { MetricFamilyTuning.garbageBatch = 256 }
        do {
            let registry = Registry()
            let factory = VigilMetricsFactory(registry: registry)
            DispatchQueue.concurrentPerform(iterations: 4) { thread in
                for i in 0..<2_000 {
                    let dimensions = [("key", "\(i % 37)")]
                    let counter = factory.makeCounter(label: "churn", dimensions: dimensions)
                    counter.increment(by: 1)
                    if (i + thread) % 5 == 0 { factory.destroyCounter(counter) }
                    _ = factory.makeTimer(label: "latency", dimensions: dimensions)
                }
            }
            // Whatever survived, each key has one series, and making it again finds that one.
            for key in 0..<37 {
                let dimensions = [("key", "\(key)")]
                let a = factory.makeCounter(label: "churn", dimensions: dimensions)
                XCTAssertTrue(factory.makeCounter(label: "churn", dimensions: dimensions) as AnyObject === a as AnyObject)
            }
            let lines = registry.renderString().split(separator: "\n").filter { $0.hasPrefix("churn_total{") }
            XCTAssertEqual(lines.count, 37)
        }
    }
}
