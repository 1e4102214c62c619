import XCTest
@testable import VigilMetrics
import VigilSupport

/// A registry's `SeriesBudget`: families left out at render time, the rest counted and capped.
final class SeriesBudgetTests: XCTestCase {
    func registry() throws -> Registry {
        let registry = Registry()
        let requests = try registry.counter("requests_total", help: "Requests.", labelNames: ["path"])
        for path in ["/a", "/b", "/c"] { requests.labels(path).inc() }
        let latency = try registry.histogram("latency_seconds", help: "Latency.", labelNames: ["path"], buckets: [0.1, 1])
        latency.labels("/a").observe(0.5)
        try registry.gauge("temperature_celsius", help: "Temperature.").set(21)
        return registry
    }

    func testARegistryWithoutABudgetWritesEverythingAndNoCounts() throws {
        let text = try registry().renderString()
        XCTAssertTrue(text.contains("requests_total{path=\"/c\"} 1"))
        XCTAssertFalse(text.contains("vigil_exported_series"))
    }

    func testExportedSeriesCountsEveryLineOfTheScrapeByFamily() throws {
        let registry = try registry()
        registry.seriesBudget = SeriesBudget()
        let text = registry.renderString()
        let lines = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        XCTAssertTrue(text.contains("vigil_exported_series{family=\"requests_total\"} 3\n"))
        XCTAssertTrue(text.contains("vigil_exported_series{family=\"latency_seconds\"} 5\n"), "two buckets, +Inf, _sum and _count")
        let counted = lines.filter { $0.hasPrefix("vigil_exported_series{") }.compactMap { Double($0.split(separator: " ").last!) }.reduce(0, +)
        XCTAssertEqual(counted, Double(lines.count))
    }

    func testAnExcludedFamilyIsNotWrittenButStillRecorded() throws {
        let registry = try registry()
        registry.seriesBudget = SeriesBudget(excluded: ["requests_total"])
        XCTAssertFalse(registry.renderString().contains("requests_total"))
        registry.seriesBudget = nil
        XCTAssertTrue(registry.renderString().contains("requests_total{path=\"/a\"} 1"))
    }

    func testTheCapKeepsTheFirstSeriesCountsTheRestAndReportsTheFirstDropOnce() throws {
        let registry = try registry()
        let reported = Locked<[String]>([])
        registry.seriesBudget = SeriesBudget(maxSeriesPerFamily: 2) { family, series in reported.withLock { $0.append("\(family) \(series)") } }
        let text = registry.renderString()
        _ = registry.renderString()
        XCTAssertTrue(text.contains("requests_total{path=\"/b\"} 1"))
        XCTAssertFalse(text.contains("requests_total{path=\"/c\"}"))
        XCTAssertFalse(text.contains("latency_seconds_bucket"), "five lines of one label set do not fit in two")
        XCTAssertTrue(text.contains("vigil_series_dropped_total{family=\"requests_total\"} 1\n"))
        XCTAssertTrue(text.contains("vigil_series_dropped_total{family=\"latency_seconds\"} 5\n"))
        XCTAssertEqual(reported.withLock { $0.sorted() }, ["latency_seconds 5", "requests_total 1", "vigil_metric_errors_total 5"], "once each, over two scrapes")
    }
}
