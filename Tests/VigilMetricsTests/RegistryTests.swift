import XCTest
@testable import VigilMetrics

final class RegistryTests: XCTestCase {
    func testSameDefinitionReturnsTheExistingFamily() throws {
        let registry = Registry()
        let a = try registry.counter("jobs_total", help: "Jobs.", labelNames: ["queue"])
        let b = try registry.counter("jobs_total", help: "Jobs.", labelNames: ["queue"])
        XCTAssertTrue(a === b)
        // The `_total` suffix is optional when asking for a counter.
        XCTAssertTrue(a === (try registry.counter("jobs", help: "Jobs.", labelNames: ["queue"])))
        let g1 = try registry.gauge("temp", help: "T.")
        XCTAssertTrue(g1 === (try registry.gauge("temp", help: "T.")))
    }

    func testConflictingDefinitionsThrowNamingBoth() throws {
        let registry = Registry()
        _ = try registry.counter("jobs_total", help: "Jobs.", labelNames: ["queue"])
        let attempts: [() throws -> Any] = [
            { try registry.counter("jobs_total", help: "Other help.", labelNames: ["queue"]) },
            { try registry.counter("jobs_total", help: "Jobs.", labelNames: ["queue", "host"]) },
            { try registry.gauge("jobs", help: "Jobs.", labelNames: ["queue"]) },
            { try registry.histogram("jobs", help: "Jobs.", labelNames: ["queue"]) },
        ]
        for attempt in attempts {
            XCTAssertThrowsError(try attempt()) { error in
                guard case RegistrationError.conflict(let existing, _) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(existing.name, "jobs")
                XCTAssertTrue("\(error)".contains("counter jobs_total{queue}"), "\(error)")
            }
        }
        _ = try registry.histogram("lat_seconds", help: "L.", buckets: [1, 2])
        XCTAssertThrowsError(try registry.histogram("lat_seconds", help: "L.", buckets: [1, 3]))
    }

    func testSampleNameClashesAcrossFamiliesAreRefused() throws {
        let registry = Registry()
        _ = try registry.histogram("rpc_seconds", help: "R.")
        for name in ["rpc_seconds_bucket", "rpc_seconds_count", "rpc_seconds_sum", "rpc_seconds_created"] {
            XCTAssertThrowsError(try registry.gauge(name, help: "G."), name)
        }
        _ = try registry.counter("hits_total", help: "H.")
        XCTAssertThrowsError(try registry.gauge("hits_created", help: "G."))
        XCTAssertThrowsError(try registry.gauge("hits", help: "G."))
        _ = try registry.gauge("size", help: "S.")
        XCTAssertThrowsError(try registry.counter("size_total", help: "S."))
        XCTAssertThrowsError(try registry.counter("vigil_metric_errors_total", help: "Mine."))
    }

    func testNamesAreCheckedAgainstTheDataModel() {
        let registry = Registry()
        let cases: [(() throws -> Any, String)] = [
            ({ try registry.counter("1st_total", help: "") }, "must match"),
            ({ try registry.counter("", help: "") }, "must match"),
            ({ try registry.gauge("bad-name", help: "") }, "try bad_name"),
            ({ try registry.gauge("__internal", help: "") }, "reserved"),
            ({ try registry.gauge("g", help: "", labelNames: ["le"]) }, "reserved"),
            ({ try registry.gauge("g", help: "", labelNames: ["quantile"]) }, "reserved"),
            ({ try registry.gauge("g", help: "", labelNames: ["__x"]) }, "reserved"),
            ({ try registry.gauge("g", help: "", labelNames: ["a:b"]) }, "must match"),
            ({ try registry.gauge("g", help: "", labelNames: ["0a"]) }, "must match"),
            ({ try registry.gauge("g", help: "", labelNames: ["a", "a"]) }, "twice"),
            ({ try registry.histogram("h_bucket", help: "") }, "must not end in _bucket"),
            ({ try registry.histogram("h_count", help: "") }, "must not end in _count"),
            ({ try registry.gauge("mem", help: "", unit: "bytes") }, "end in the unit"),
            ({ try registry.gauge("mem_bytes", help: "", unit: "by tes") }, "a unit must match"),
        ]
        for (attempt, fragment) in cases {
            XCTAssertThrowsError(try attempt()) { error in
                XCTAssertTrue("\(error)".contains(fragment), "expected \"\(fragment)\" in: \(error)")
            }
        }
        XCTAssertNoThrow(try registry.gauge("ns:metric_ok", help: "", unit: "ok"))
        XCTAssertNoThrow(try registry.gauge("mem_bytes", help: "", unit: "bytes"))
    }

    struct FixedCollector: Collector {
        var descriptors: [MetricDescriptor]
        var families: [CollectedFamily]
        func collect() -> [CollectedFamily] { families }
    }

    func testCollectorsAreRenderedWithTheRegistry() throws {
        let registry = Registry()
        _ = try registry.gauge("b_gauge", help: "B.").set(1)
        let collector = FixedCollector(
            descriptors: [
                MetricDescriptor(name: "a_total", help: "A.", type: .counter, labelNames: ["x"]),
                MetricDescriptor(name: "c_seconds", help: "C.", type: .histogram, buckets: [1]),
            ],
            families: [
                CollectedFamily(name: "a_total", samples: [
                    CollectedSample(labelValues: ["2"], .counter(5)), CollectedSample(labelValues: ["1"], .counter(4)),
                ]),
                CollectedFamily(name: "c_seconds", samples: [CollectedSample(.histogram(buckets: [2, 1], sum: 3.5))]),
            ])
        let registration = try registry.register(collector)
        let text = registry.renderString()
        XCTAssertTrue(text.hasPrefix("""
            # HELP a_total A.
            # TYPE a_total counter
            a_total{x="1"} 4
            a_total{x="2"} 5
            # HELP b_gauge B.
            # TYPE b_gauge gauge
            b_gauge 1
            # HELP c_seconds C.
            # TYPE c_seconds histogram
            c_seconds_bucket{le="1"} 2
            c_seconds_bucket{le="+Inf"} 3
            c_seconds_count 3
            c_seconds_sum 3.5

            """), text)
        XCTAssertThrowsError(try registry.gauge("a", help: "A."))
        registry.unregister(registration)
        XCTAssertFalse(registry.renderString().contains("a_total"))
        XCTAssertNoThrow(try registry.gauge("a", help: "A."))
    }

    func testCollectorSamplesThatDoNotFitAreDroppedAndCounted() throws {
        let registry = Registry()
        try registry.register(FixedCollector(
            descriptors: [
                MetricDescriptor(name: "g", help: "G.", type: .gauge, labelNames: ["x"]),
                MetricDescriptor(name: "h", help: "H.", type: .histogram, buckets: [1]),
            ],
            families: [
                CollectedFamily(name: "g", samples: [
                    CollectedSample(labelValues: ["ok"], .gauge(1)),
                    CollectedSample(labelValues: [], .gauge(2)),  // wrong label count
                    CollectedSample(labelValues: ["c"], .counter(3)),  // wrong type
                ]),
                CollectedFamily(name: "h", samples: [CollectedSample(.histogram(buckets: [1], sum: 1))]),  // too few buckets
                CollectedFamily(name: "undeclared", samples: [CollectedSample(.gauge(1))]),
            ]))
        let text = registry.renderString()
        XCTAssertTrue(text.contains("g{x=\"ok\"} 1\n"))
        XCTAssertFalse(text.contains("undeclared"))
        XCTAssertEqual(registry.errors.count(.invalidCollectedSample), 4)
    }

    func testCollectorDescriptorsAreValidatedAndMayNotClash() throws {
        let registry = Registry()
        _ = try registry.gauge("taken", help: "T.")
        XCTAssertThrowsError(try registry.register(FixedCollector(
            descriptors: [MetricDescriptor(name: "taken", help: "T.", type: .gauge)], families: [])))
        XCTAssertThrowsError(try registry.register(FixedCollector(
            descriptors: [MetricDescriptor(name: "bad name", help: "T.", type: .gauge)], families: [])))
        XCTAssertThrowsError(try registry.register(FixedCollector(
            descriptors: [MetricDescriptor(name: "h", help: "T.", type: .histogram, buckets: [2, 1])], families: [])))
    }
}
