import XCTest
@testable import VigilMetrics

final class CounterTests: XCTestCase {
    func testIncrementsAddUpExactly() throws {
        let registry = Registry()
        let counter = try registry.counter("jobs_total", help: "Jobs.")
        counter.inc()
        counter.inc(by: 41)
        XCTAssertEqual(counter.value, 42)
        counter.inc(by: 0.5)
        XCTAssertEqual(counter.value, 42.5)
    }

    func testIntegerPartStaysExactBeyondDoublePrecision() throws {
        let counter = try Registry().counter("big_total", help: "Big.")
        counter.inc(by: 1 << 53)
        counter.inc()
        XCTAssertEqual(counter.integerTotal, (1 << 53) + 1)
    }

    func testNegativeAndNonFiniteIncrementsAreDroppedAndCounted() throws {
        let registry = Registry()
        let counter = try registry.counter("c_total", help: "C.")
        counter.inc(by: -1)
        counter.inc(by: -0.5)
        counter.inc(by: .nan)
        counter.inc(by: .infinity)
        XCTAssertEqual(counter.value, 0)
        XCTAssertEqual(registry.errors.count(.negativeIncrement), 2)
        XCTAssertEqual(registry.errors.count(.nonFiniteIncrement), 2)
        let text = registry.renderString()
        XCTAssertTrue(text.contains("vigil_metric_errors_total{reason=\"negative_increment\"} 2\n"), text)
        XCTAssertTrue(text.contains("vigil_metric_errors_total{reason=\"non_finite_increment\"} 2\n"), text)
    }

    func testConcurrentIncrementsFromManyTasksLandExactly() async throws {
        let counter = try Registry().counter("hits_total", help: "Hits.")
        let tasks = 16
        let adds = 20_000
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    for _ in 0..<adds { counter.inc() }
                }
            }
        }
        XCTAssertEqual(counter.value, Double(tasks * adds))
    }

    func testConcurrentIncrementsFromThreadsLandExactlyOnceStriped() throws {
        let counter = try Registry().counter("hits_total", help: "Hits.")
        let threads = 4
        let adds = 100_000
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            for _ in 0..<adds { counter.inc(by: 3) }
        }
        XCTAssertEqual(counter.integerTotal, UInt64(threads * adds * 3))
    }

    func testExemplarIsKeptAndRenderedInOpenMetricsOnly() throws {
        let registry = Registry()
        let counter = try registry.counter("req_total", help: "Requests.")
        counter.inc(by: 2, exemplar: [("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")])
        let om = registry.renderString(.openMetrics)
        XCTAssertTrue(om.contains("req_total 2 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 2 "), om)
        let text = registry.renderString(.text)
        XCTAssertTrue(text.contains("\nreq_total 2\n"), text)  // the sample line ends at its value
        XCTAssertFalse(text.contains(" # {"), text)
        XCTAssertFalse(text.contains("trace_id"), text)
    }

    func testExemplarsRecordedWhileScrapingStayWhole() throws {
        let registry = Registry()
        let counter = try registry.counter("req_total", help: "Requests.")
        let histogram = try registry.histogram("rt_seconds", help: "RT.", buckets: [0.5])
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in 0..<2_000 {
                if t == 0 {
                    let text = registry.renderString(.openMetrics)
                    XCTAssertTrue(text.hasSuffix("# EOF\n"))
                } else {
                    let id = "\(t)-\(i)"
                    counter.inc(by: 1, exemplar: [("trace_id", id)])
                    histogram.observe(Double(i % 2), exemplar: [("trace_id", id)])
                }
            }
        }
        XCTAssertEqual(counter.value, 6_000)
        XCTAssertEqual(histogram.snapshot.count, 6_000)
    }

    func testOversizedExemplarIsDroppedButTheIncrementCounts() throws {
        let registry = Registry()
        let counter = try registry.counter("req_total", help: "Requests.")
        counter.inc(by: 1, exemplar: [("trace_id", String(repeating: "a", count: 200))])
        XCTAssertEqual(counter.value, 1)
        XCTAssertEqual(registry.errors.count(.invalidExemplar), 1)
        XCTAssertFalse(registry.renderString(.openMetrics).contains("aaaa"))
    }
}
