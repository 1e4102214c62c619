import Logging
import Vigil
import VigilTestSupport
import XCTest
@testable import VigilSidecar

/// `exclude_families`, `include_families`, `max_series_per_family` and `series_budget` in
/// vigil.yml: what a node's scrape carries, and the count of it (`vigil_exported_series`).
final class SeriesBudgetTests: XCTestCase {
    static let io = VigilMetric.pluginIOBytes.metric.queryName
    static let exported = SeriesBudget.exportedSeries.metric.name

    func sidecar(_ extra: String) throws -> Sidecar {
        let config = try SidecarConfig.parse("""
            listen: 127.0.0.1:0
            sampling_interval: 100ms
            \(extra)
            plugins:
              - name: test-host
                match:
                  - self: true

            """, file: "test.yml")
        return try Sidecar(config: config, logger: Logger(label: "series-budget-tests", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// The second scrape of /metrics once the plugin was sampled (the first made the HTTP
    /// families appear), as the series written.
    func scrape(_ sidecar: Sidecar) async throws -> [String: Double] {
        var samples: [String: Double] = [:]
        try await withRunningServer({ try await sidecar.run(onListening: $0) }) { server in
            try await waitUntil("a first sample") { sidecar.sampler.usage["test-host"]?.processes == 1 }
            _ = try await server.scrape()
            samples = try await server.scrape()
        }
        return samples
    }

    func exportedByFamily(_ samples: [String: Double]) -> [String: Double] {
        var out: [String: Double] = [:]
        for (series, value) in samples where series.hasPrefix(Self.exported + "{family=\"") {
            out[String(series.dropFirst(Self.exported.count + 9).dropLast(2))] = value
        }
        return out
    }

    func testAnExcludedFamilyLeavesMetricsAndTheSeriesCountDropsByExactlyItsSeries() async throws {
        let whole = try await scrape(try sidecar(""))
        let without = try await scrape(try sidecar("exclude_families: [\(Self.io)]"))

        let ioSeries = whole.keys.filter { $0.hasPrefix(Self.io + "{") }.count
        XCTAssertEqual(ioSeries, 2, "read and write of the one plugin")
        XCTAssertEqual(without.keys.filter { $0.hasPrefix(Self.io) }, [], "the excluded family is gone from /metrics")

        let before = exportedByFamily(whole), after = exportedByFamily(without)
        XCTAssertEqual(before[Self.io], Double(ioSeries))
        XCTAssertNil(after[Self.io])
        // Every other family's count is the same; its own line for the family is gone with it.
        let others = { (counts: [String: Double]) in counts.filter { $0.key != Self.exported }.values.reduce(0, +) }
        XCTAssertEqual(others(before) - others(after), Double(ioSeries), "the count drops by exactly the family's series")
        XCTAssertEqual(before[Self.exported]! - after[Self.exported]!, 1)
        // And the count is the scrape's own: one series per line written.
        XCTAssertEqual(before.values.reduce(0, +), Double(whole.count))
        XCTAssertEqual(after.values.reduce(0, +), Double(without.count))
    }

    func testAWatchedPluginCostsTheSeriesVigilMetricsSays() async throws {
        // No limits, no smaps, not matched by cgroup: the base cost `vigil metrics --format series` prints.
        let samples = try await scrape(try sidecar(""))
        let plugin = samples.keys.filter { $0.contains(#"plugin="test-host""#) }
        XCTAssertEqual(plugin.count, VigilMetric.baseSeries(per: "plugin"), plugin.sorted().joined(separator: "\n"))
    }

    func testIncludeFamiliesKeepsOnlyThose() async throws {
        let only = try await scrape(try sidecar("include_families: [vigil_plugin_threads, vigil_exported_series]"))
        XCTAssertEqual(Set(only.keys.map { String($0.prefix { $0 != "{" && $0 != " " }) }), ["vigil_plugin_threads", Self.exported])
    }

    func testACappedFamilyKeepsItsFirstSeriesAndCountsTheRestDropped() async throws {
        // vigil_metric_errors_total has one series per reason, seven in all; keep three.
        let capped = try await scrape(try sidecar("max_series_per_family: 3\nseries_budget: 500"))
        let errors = capped.keys.filter { $0.hasPrefix("vigil_metric_errors_total{") }
        XCTAssertEqual(errors.count, 3)
        XCTAssertEqual(capped[#"vigil_series_dropped_total{family="vigil_metric_errors_total"}"#], 4 * 2, "two scrapes left four out each")
        XCTAssertEqual(capped["vigil_series_budget"], 500)
        // A histogram is capped by whole label sets: vigil_scrape_duration_seconds has one of 14 lines.
        XCTAssertEqual(capped.keys.filter { $0.hasPrefix("vigil_scrape_duration_seconds_bucket") }.count, 0, "14 lines do not fit in 3")
    }

    func testAnUnknownFamilyIsRefusedWithItsLineAndTheNearestName() {
        let yaml = "listen: 127.0.0.1:0\nexclude_families:\n  - vigil_plugin_threads\n  - vigil_plugin_io_byte_total\nplugins: []\n"
        XCTAssertThrowsError(try SidecarConfig.parse(yaml, file: "vigil.yml")) { error in
            XCTAssertEqual("\(error)", #"vigil.yml:4: exclude_families[1]: "vigil_plugin_io_byte_total" is not a family Vigil exports (did you mean "vigil_plugin_io_bytes_total"? `vigil metrics` lists them all)"#)
        }
    }

    func testFamiliesAreNamedAsQueriedOrByTheirBaseName() throws {
        let config = try SidecarConfig.parse("exclude_families: [vigil_plugin_io_bytes, vigil_phase_duration_seconds]\nplugins: []\n", file: "t.yml")
        XCTAssertEqual(config.seriesLimits.excludeFamilies, ["vigil_plugin_io_bytes", "vigil_phase_duration_seconds"])
        let budget = config.seriesLimits.makeBudget(logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        XCTAssertFalse(budget.admits(VigilMetric.pluginIOBytes.metric))
        XCTAssertTrue(budget.admits(VigilMetric.pluginThreads.metric))
    }
}
