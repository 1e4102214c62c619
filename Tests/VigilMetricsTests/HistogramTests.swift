import XCTest
@testable import VigilMetrics

final class HistogramTests: XCTestCase {
    func testObservationLandsInFirstBucketWhoseBoundIsAtLeastValue() throws {
        let h = try Registry().histogram("latency_seconds", help: "L.", buckets: [0.1, 0.5, 1])
        h.observe(0.1)  // exactly on a bound: that bucket
        h.observe(0.2)
        h.observe(1)
        h.observe(7)  // +Inf
        h.observe(-1)  // below every bound: the first
        let s = h.snapshot
        XCTAssertEqual(s.buckets, [2, 1, 1, 1])
        XCTAssertEqual(s.count, 5)
        XCTAssertEqual(s.sum, 0.1 + 0.2 + 1 + 7 - 1, accuracy: 1e-12)
    }

    func testBinarySearchAgreesWithLinearScanForManyBuckets() throws {
        let bounds = Histogram.linearBuckets(start: 1, width: 1, count: 40)
        let h = try Registry().histogram("h", help: "H.", buckets: bounds)
        for v in stride(from: 0.0, through: 42, by: 0.25) {
            let expected = bounds.firstIndex { $0 >= v } ?? bounds.count
            XCTAssertEqual(h.bucketIndex(v), expected, "value \(v)")
        }
    }

    func testDefaultBucketsAreThePrometheusDefaults() throws {
        let h = try Registry().histogram("d_seconds", help: "D.")
        XCTAssertEqual(h.upperBounds, [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])
    }

    func testNaNObservationIsDroppedAndCounted() throws {
        let registry = Registry()
        let h = try registry.histogram("h", help: "H.", buckets: [1])
        h.observe(.nan)
        XCTAssertEqual(h.snapshot.count, 0)
        XCTAssertEqual(registry.errors.count(.nanObservation), 1)
    }

    func testDurationsAreSummedExactlyInNanoseconds() throws {
        let h = try Registry().histogram("t_seconds", help: "T.")
        for _ in 0..<1_000_000 { h.observe(Duration.nanoseconds(1)) }
        h.observe(Duration.seconds(3))
        XCTAssertEqual(h.sumNanoseconds.load(ordering: .relaxed), 3_001_000_000)
        XCTAssertEqual(h.sum, 3.001)
        XCTAssertEqual(h.snapshot.buckets.first, 1_000_000)
        XCTAssertEqual(h.snapshot.buckets[7], 0)  // 1 s bucket
        XCTAssertEqual(h.snapshot.buckets[9], 1)  // 5 s bucket
    }

    func testBoundsAreValidated() {
        let registry = Registry()
        for (bounds, fragment) in [
            ([], "no bounds"), ([1, .nan], "finite"), ([1, 1], "increase strictly"),
            ([2, 1], "increase strictly"), ([-.infinity, 0], "finite"),
        ] as [([Double], String)] {
            XCTAssertThrowsError(try registry.histogram("h\(fragment.count)\(bounds.count)", help: "H.", buckets: bounds)) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(bounds): \(error)")
            }
        }
        XCTAssertEqual(try registry.histogram("ok", help: "H.", buckets: [1, .infinity]).upperBounds, [1])
    }

    func testBucketHelpers() {
        XCTAssertEqual(Histogram.exponentialBuckets(start: 1, factor: 2, count: 4), [1, 2, 4, 8])
        XCTAssertEqual(Histogram.linearBuckets(start: 0, width: 5, count: 3), [0, 5, 10])
        XCTAssertEqual(Histogram.exponentialBuckets(start: 1, factor: 2, count: 0), [])
    }

    func testCountEqualsSumOfBucketsUnderConcurrentObservation() throws {
        let registry = Registry()
        let h = try registry.histogram("c_seconds", help: "C.", buckets: [0.25, 0.5, 0.75])
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            DispatchQueue.concurrentPerform(iterations: 4) { t in
                for i in 0..<50_000 { h.observe(Double((i + t) % 100) / 100) }
            }
            done.signal()
        }
        // Scrape while observations land: every rendering must be self-consistent.
        var renders = 0
        while done.wait(timeout: .now()) == .timedOut || renders == 0 {
            let text = registry.renderString()
            let inf = try XCTUnwrap(Self.value(of: "c_seconds_bucket{le=\"+Inf\"}", in: text))
            let count = try XCTUnwrap(Self.value(of: "c_seconds_count", in: text))
            XCTAssertEqual(inf, count)
            let cumulative = ["0.25", "0.5", "0.75", "+Inf"].compactMap { Self.value(of: "c_seconds_bucket{le=\"\($0)\"}", in: text) }
            XCTAssertEqual(cumulative, cumulative.sorted())
            renders += 1
        }
        XCTAssertEqual(h.snapshot.count, 200_000)
        XCTAssertEqual(h.snapshot.buckets.reduce(0, +), 200_000)
    }

    func testBucketExemplarsInOpenMetrics() throws {
        let registry = Registry()
        let h = try registry.histogram("rt_seconds", help: "RT.", buckets: [0.1, 1])
        h.observe(0.5, exemplar: [("trace_id", "abc"), ("span_id", "def")])
        let om = registry.renderString(.openMetrics)
        XCTAssertTrue(om.contains("rt_seconds_bucket{le=\"1.0\"} 1 # {trace_id=\"abc\",span_id=\"def\"} 0.5 "), om)
        XCTAssertTrue(om.contains("rt_seconds_bucket{le=\"0.1\"} 0\n"), om)
    }

    static func value(of series: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1).split(separator: " ")[0])
        }
        return nil
    }

    /// PluginObserver counts executions and executions in flight from the duration histogram's
    /// observations, with no atomic add of their own: what a scrape shows must be exactly what
    /// separate adds would have shown.
    func testACounterAndAGaugeCanDeriveTheirValuesFromAHistogramsObservations() throws {
        let registry = Registry()
        let executions = try registry.counter("executions_total", help: "E.")
        let inFlight = try registry.gauge("in_flight", help: "F.")
        let duration = try registry.histogram("duration_seconds", help: "D.")
        executions.countObservations(of: duration)
        executions.countObservations(of: try registry.histogram("other_seconds", help: "O."))  // only the first counts
        inFlight.subtractObservations(of: duration)
        for i in 0..<5 {
            inFlight.inc()
            duration.observe(nanoseconds: Int64(i) * 1_000_000)
        }
        inFlight.inc()
        inFlight.inc()
        executions.inc(by: 10)  // increments of its own still count
        XCTAssertEqual(duration.observationCount, 5)
        XCTAssertEqual(executions.value, 15)
        XCTAssertEqual(inFlight.value, 2)
        let text = registry.renderString()
        XCTAssertTrue(text.contains("executions_total 15\n"), text)
        XCTAssertTrue(text.contains("in_flight 2\n"), text)
        XCTAssertTrue(text.contains("duration_seconds_count 5\n"), text)
        XCTAssertEqual(duration.sum, 0.01, accuracy: 1e-12, "nanoseconds summed exactly")
        // An observation seen before its increment (weakly ordered processors) never makes the
        // gauge negative.
        duration.observe(nanoseconds: 1)
        duration.observe(nanoseconds: 1)
        duration.observe(nanoseconds: 1)
        XCTAssertEqual(inFlight.value, 0)
    }
}
