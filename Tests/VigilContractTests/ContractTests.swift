import VigilContract
import VigilMetrics
import XCTest

final class ContractTests: XCTestCase {
    /// The repository root, found from this file so that the test runs from any folder.
    static let root: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/VigilContractTests/ContractTests.swift
        return parts.joined(separator: "/")
    }()

    func testEveryFamilyOfTheContractRegistersInOneRegistryWithoutAClash() throws {
        let registry = Registry()
        var collected: [MetricDescriptor] = []
        for entry in VigilMetric.contract where entry.metric.name != Registry.metricErrors.metric.name
            && entry.metric.name != Registry.seriesOverflow.metric.name {
            collected.append(entry.metric)
        }
        // A collector that describes every family at once: registration refuses clashes and invalid names.
        struct Everything: Collector {
            let descriptors: [MetricDescriptor]
            func collect() -> [CollectedFamily] { [] }
        }
        XCTAssertNoThrow(try registry.register(Everything(descriptors: collected)))
    }

    func testNoNameAppearsTwiceInTheContract() {
        let names = VigilMetric.contract.map(\.metric.name)
        XCTAssertEqual(names.count, Set(names).count, "duplicated: \(names.filter { n in names.filter { $0 == n }.count > 1 })")
    }

    func testEveryFixedLabelValueSetNamesALabelOfItsFamily() {
        for entry in VigilMetric.contract {
            for label in entry.labelValues.keys {
                XCTAssertTrue(entry.metric.labelNames.contains(label), "\(entry.metric.name) has no label \(label)")
            }
        }
    }

    func testCountersAreQueriedWithTotalAndHistogramsListTheirThreeSamples() {
        XCTAssertEqual(VigilMetric.phaseExecutions.name, "vigil_phase_executions_total")
        XCTAssertEqual(VigilMetric.phaseDuration.metric.exposedSampleNames,
                       ["vigil_phase_duration_seconds_bucket", "vigil_phase_duration_seconds_sum", "vigil_phase_duration_seconds_count"])
    }

    func testTheJSONFormListsEveryFamilyWithItsSamples() throws {
        let json = VigilMetric.json()
        let decoded = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]]
        let families = try XCTUnwrap(decoded)
        XCTAssertEqual(families.count, VigilMetric.contract.count)
        let breaker = try XCTUnwrap(families.first { $0["name"] as? String == "vigil_breaker_state" })
        XCTAssertEqual(breaker["labels"] as? [String], ["plugin", "breaker", "state"])
        XCTAssertEqual((breaker["label_values"] as? [String: [String]])?["state"], ["closed", "open", "half_open"])
        XCTAssertEqual(breaker["samples"] as? [String], ["vigil_breaker_state"])
    }

    /// The README's metric reference is `vigil metrics` output; regenerate it with
    /// `swift run vigil metrics` and paste it between the markers.
    func testTheReadmeMetricReferenceIsTheContract() throws {
        let readme = try String(contentsOfFile: Self.root + "/README.md", encoding: .utf8)
        let begin = "<!-- metrics:begin -->\n", end = "<!-- metrics:end -->"
        let start = try XCTUnwrap(readme.range(of: begin), "README.md has no \(begin)")
        let stop = try XCTUnwrap(readme.range(of: end, range: start.upperBound..<readme.endIndex), "README.md has no \(end)")
        let table = String(readme[start.upperBound..<stop.lowerBound])
        XCTAssertEqual(table, VigilMetric.markdown(),
                       "README.md's metric reference differs from the contract: run `swift run vigil metrics` and paste its output between the markers")
    }
}
