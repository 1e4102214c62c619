import XCTest
@testable import VigilMetrics

/// The batched, plan-driven rendering writes the same lines as one series at a time would.
final class RenderTests: XCTestCase {
    /// The line every series of `family` should have, in label order, as text 0.0.4 writes it.
    private func expectedLines(_ values: [(labels: String, value: String)], name: String) -> [String] {
        values.sorted { $0.labels < $1.labels }.map { "\(name){\($0.labels)} \($0.value)" }
    }

    private func lines(_ text: String, prefix: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }
    }

    func testCountersPastSeveralBatchesMixIntegerFractionalAndExemplarLines() throws {
        let registry = Registry()
        let family = try registry.counter("jobs_total", help: "J.", labelNames: ["id"])
        var expected: [(labels: String, value: String)] = []
        // Created in reverse so the plan's order is not creation order.
        for i in (0..<(Series.renderBatch * 3 + 5)).reversed() {
            let id = String(format: "%03d", i)
            let counter = family.labels(id)
            switch i % 4 {
            case 0:
                counter.inc(by: i)
                expected.append(("id=\"\(id)\"", "\(i)"))
            case 1:
                counter.inc(by: Double(i) + 0.5)
                expected.append(("id=\"\(id)\"", "\(Double(i) + 0.5)"))
            case 2:
                counter.inc(by: 2, exemplar: [(name: "trace_id", value: "t\(i)")])
                expected.append(("id=\"\(id)\"", "2"))
            default:
                expected.append(("id=\"\(id)\"", "0"))
            }
        }
        let text = registry.renderString(.text)
        XCTAssertEqual(lines(text, prefix: "jobs_total{"), expectedLines(expected, name: "jobs_total"))
        // OpenMetrics writes the exemplars, on exactly the counters that have one.
        let openMetrics = lines(registry.renderString(.openMetrics), prefix: "jobs_total{")
        XCTAssertEqual(openMetrics.count, expected.count)
        for line in openMetrics {
            let id = Int(line.dropFirst("jobs_total{id=\"".count).prefix(3))!
            XCTAssertEqual(line.contains(" # {trace_id=\"t\(id)\"} 2"), id % 4 == 2, line)
        }
        // `_created` goes through the one-series path and still follows each line.
        let created = lines(registry.renderString(.openMetrics, includeCreated: true), prefix: "jobs_")
        XCTAssertEqual(created.count, expected.count * 2)
        XCTAssertTrue(created[1].hasPrefix("jobs_created{id=\"000\"} "), created[1])
    }

    func testGaugesPastSeveralBatches() throws {
        let registry = Registry()
        let family = try registry.gauge("depth", help: "D.", labelNames: ["queue"])
        var expected: [(labels: String, value: String)] = []
        for i in 0..<(Series.renderBatch * 2 + 1) {
            let value = i % 2 == 0 ? Double(i) : -Double(i) / 4
            family.labels("q\(i)").set(value)
            expected.append(("queue=\"q\(i)\"", value == value.rounded() ? "\(Int(value))" : "\(value)"))
        }
        XCTAssertEqual(lines(registry.renderString(), prefix: "depth{"), expectedLines(expected, name: "depth"))
    }

    func testThePlanFollowsSeriesThatComeAndGo() throws {
        let registry = Registry()
        let family = try registry.counter("c_total", help: "C.", labelNames: ["k"])
        family.labels("b").inc()
        XCTAssertEqual(lines(registry.renderString(), prefix: "c_total{"), ["c_total{k=\"b\"} 1"])
        family.labels("a").inc(by: 2)
        XCTAssertEqual(lines(registry.renderString(), prefix: "c_total{"), ["c_total{k=\"a\"} 2", "c_total{k=\"b\"} 1"])
        family.remove("b")
        XCTAssertEqual(lines(registry.renderString(), prefix: "c_total{"), ["c_total{k=\"a\"} 2"])
        // Values change without the plan being rebuilt.
        family.labels("a").inc()
        XCTAssertEqual(lines(registry.renderString(), prefix: "c_total{"), ["c_total{k=\"a\"} 3"])
    }

    func testTheOverflowSeriesComesLastAndLeavesWithRemoveAll() throws {
        let registry = Registry()
        let family = try registry.counter("c_total", help: "C.", labelNames: ["k"], seriesLimit: 1)
        family.labels("z").inc()
        family.labels("a").inc(by: 5)  // past the limit
        XCTAssertEqual(
            lines(registry.renderString(), prefix: "c_total{"), ["c_total{k=\"z\"} 1", "c_total{k=\"__overflow__\"} 5"])
        XCTAssertEqual(family.removeAll(), 1)
        XCTAssertEqual(lines(registry.renderString(), prefix: "c_total{"), [])
    }

    func testWriteIntoAppendsTheSameBytesRenderReturns() throws {
        let registry = Registry()
        let family = try registry.counter("c_total", help: "C.", labelNames: ["k"])
        for i in 0..<100 { family.labels("v\(i)").inc(by: i) }
        let rendered = registry.render(.openMetrics)
        var buffer = Array("prefix\n".utf8)
        registry.write(into: &buffer, .openMetrics)
        XCTAssertEqual(buffer, Array("prefix\n".utf8) + rendered)
        var empty: [UInt8] = []
        registry.write(into: &empty, .openMetrics)
        XCTAssertEqual(empty, rendered)
    }

    func testARenderMuchLargerThanThePreviousOneIsWhole() throws {
        let registry = Registry(defaultSeriesLimit: 100_000)
        let family = try registry.counter("c_total", help: "C.", labelNames: ["k"])
        family.labels("first").inc()
        _ = registry.render()  // sizes the next render's storage from a small exposition
        for i in 0..<5_000 { family.labels("v\(i)").inc(by: i) }
        let text = registry.renderString()
        XCTAssertEqual(lines(text, prefix: "c_total{").count, 5_001)
        XCTAssertTrue(text.contains("c_total{k=\"v4999\"} 4999\n"))
        XCTAssertTrue(text.contains("# TYPE vigil_metric_errors_total counter\n"), "the families after it are there too")
        // And the next one, sized from that, is written in place and equal.
        XCTAssertEqual(registry.renderString(), text)
    }

    func testRenderingWhileOtherThreadsAddAndRemoveSeries() throws {
        MetricFamilyTuning.garbageBatch = 1
        defer { MetricFamilyTuning.garbageBatch = 256 }
        let registry = Registry()
        let family = try registry.counter("churn_total", help: "C.", labelNames: ["k"])
        family.labels("stays").inc()
        DispatchQueue.concurrentPerform(iterations: 3) { thread in
            for i in 0..<300 {
                if thread == 0 {
                    let text = registry.renderString()
                    XCTAssertTrue(text.contains("churn_total{k=\"stays\"} 1\n"))
                } else {
                    family.labels("t\(thread)-\(i % 20)").inc()
                    family.remove("t\(thread)-\((i + 7) % 20)")
                }
            }
        }
        XCTAssertTrue(registry.renderString().contains("churn_total{k=\"stays\"} 1\n"))
    }
}
