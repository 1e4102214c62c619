import XCTest
@testable import VigilMetrics

final class FamilyTests: XCTestCase {
    func testLabelsReturnsTheSameSeriesEachTime() throws {
        let family = try Registry().counter("req_total", help: "R.", labelNames: ["method", "code"])
        let a = family.labels("GET", "200")
        XCTAssertTrue(a === family.labels("GET", "200"))
        XCTAssertTrue(a === family.labels(["GET", "200"]))
        XCTAssertFalse(a === family.labels("GET", "500"))
        XCTAssertEqual(family.seriesCount, 2)
    }

    func testOneAndThreeLabelForms() throws {
        let registry = Registry()
        let one = try registry.gauge("g1", help: "G.", labelNames: ["a"])
        XCTAssertTrue(one.labels("x") === one.labels(["x"]))
        let three = try registry.gauge("g3", help: "G.", labelNames: ["a", "b", "c"])
        XCTAssertTrue(three.labels("x", "y", "z") === three.labels(["x", "y", "z"]))
        XCTAssertEqual(three.labels("x", "y", "z").labelValues, ["x", "y", "z"])
    }

    func testLabelValuesThatConcatenateAlikeAreDistinct() throws {
        let family = try Registry().counter("c_total", help: "C.", labelNames: ["a", "b"])
        XCTAssertFalse(family.labels("ab", "c") === family.labels("a", "bc"))
        XCTAssertFalse(family.labels("", "") === family.labels("", " "))
    }

    func testWrongNumberOfLabelValuesIsCountedAndNeverExposed() throws {
        let registry = Registry()
        let family = try registry.counter("c_total", help: "C.", labelNames: ["a", "b"])
        family.labels("only-one").inc()
        family.labels("x", "y", "z").inc()
        family.labels(["1", "2", "3"]).inc()
        XCTAssertEqual(registry.errors.count(.labelCountMismatch), 3)
        XCTAssertEqual(family.seriesCount, 0)
        XCTAssertFalse(registry.renderString().contains("c_total{"))
    }

    func testManySeriesStayFindableAcrossTableGrowth() throws {
        let family = try Registry().counter("c_total", help: "C.", labelNames: ["id"])
        let handles = (0..<5_000).map { family.labels(String($0)) }
        for (i, handle) in handles.enumerated() {
            XCTAssertTrue(handle === family.labels(String(i)))
        }
        XCTAssertEqual(family.seriesCount, 5_000)
    }

    func testConcurrentFirstUseCreatesOneSeriesPerLabelSet() throws {
        let family = try Registry().counter("c_total", help: "C.", labelNames: ["id"])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for i in 0..<2_000 { family.labels(String(i % 500)).inc() }
        }
        XCTAssertEqual(family.seriesCount, 500)
        XCTAssertEqual(family.allSeries.map(\.value).reduce(0, +), 16_000)
    }

    func testCardinalityGuardSendsNewLabelSetsToOneOverflowSeries() throws {
        let registry = Registry()
        let family = try registry.counter("c_total", help: "C.", labelNames: ["user"], seriesLimit: 3)
        for user in ["a", "b", "c", "d", "e", "d"] { family.labels(user).inc() }
        XCTAssertEqual(family.seriesCount, 3)
        XCTAssertEqual(family.overflowCount, 3)
        let overflow = family.labels("zzz")
        XCTAssertEqual(overflow.labelValues, ["__overflow__"])
        XCTAssertEqual(overflow.value, 3)
        let text = registry.renderString()
        XCTAssertTrue(text.contains("c_total{user=\"__overflow__\"} 3\n"), text)
        XCTAssertTrue(text.contains("vigil_metric_series_overflow_total{metric=\"c\"} 4\n"), text)
        // Existing series are still served from the table.
        XCTAssertTrue(family.labels("a") === family.labels("a"))
    }

    func testDefaultSeriesLimitComesFromTheRegistry() throws {
        XCTAssertEqual(try Registry().counter("a_total", help: "A.", labelNames: ["x"]).seriesLimit, 10_000)
        XCTAssertEqual(try Registry(defaultSeriesLimit: 7).counter("a_total", help: "A.", labelNames: ["x"]).seriesLimit, 7)
        XCTAssertThrowsError(try Registry().counter("a_total", help: "A.", labelNames: ["x"], seriesLimit: 0))
    }

    func testSeriesAreListedInLabelOrder() throws {
        let family = try Registry().gauge("g", help: "G.", labelNames: ["k"])
        for k in ["b", "c", "a"] { family.labels(k).set(1) }
        XCTAssertEqual(family.allSeries.map { $0.labelValues[0] }, ["a", "b", "c"])
    }
}
