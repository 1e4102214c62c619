import Foundation
import VigilMetrics
import VigilSupport
import VigilTestSupport
import VigilTracing
import XCTest
@testable import VigilInstrument

/// `observe(plugin:phase:)`, README's API for code that is not a Phase: its series are looked
/// up once per (plugin, phase) and cached, and an unload leaves no cached series behind.
final class ObserveByNameTests: XCTestCase {
    func testRepeatedCallsShareOneCachedEntryAndCountIntoTheSameSeries() async throws {
        let registry = Registry()
        let observer = try PluginObserver(registry: registry)
        for _ in 0..<3 { try await observer.observe(plugin: "index", phase: "fetch") {} }
        try observer.observe(plugin: "index", phase: "fetch") {}  // the synchronous overload shares the entry
        try await observer.observe(plugin: "index", phase: "parse") {}
        XCTAssertEqual(observer.byName.count, 2)
        let text = registry.renderString()
        XCTAssertTrue(text.contains("vigil_phase_executions_total{plugin=\"index\",phase=\"fetch\"} 4"), text)
        XCTAssertTrue(text.contains("vigil_phase_executions_total{plugin=\"index\",phase=\"parse\"} 1"), text)
        XCTAssertTrue(text.contains("vigil_phase_in_flight{plugin=\"index\",phase=\"fetch\"} 0"), text)
    }

    /// The clock is read once at each end of an execution: the span's start and end are those
    /// readings, so its duration is exactly the one the histogram got, and the bucket's exemplar
    /// carries the span's end time.
    func testTheSpanAndTheHistogramAgreeExactlyOnTheDuration() async throws {
        let registry = Registry()
        let exporter = InMemorySpanExporter()
        let tracer = Tracer(resource: TelemetryResource(attributes: []),
                            processor: BatchSpanProcessor(exporter: exporter), environment: TracingEnvironment())
        let observer = try PluginObserver(registry: registry, tracer: tracer)
        let before = SystemClock.wallNanoseconds()
        try await observer.observe(plugin: "index", phase: "fetch") { try await Task.sleep(for: .milliseconds(3)) }
        try observer.observe(plugin: "index", phase: "parse") { usleep(2000) }
        await tracer.forceFlush()
        XCTAssertEqual(exporter.spans.count, 2)
        var total: UInt64 = 0
        for span in exporter.spans {
            let duration = span.endTimeUnixNano - span.startTimeUnixNano
            XCTAssertGreaterThanOrEqual(duration, 2_000_000, span.name)
            XCTAssertGreaterThanOrEqual(span.startTimeUnixNano + 50_000_000, before, "wall-clock time")
            total += duration
        }
        let sum = registry.renderString().split(separator: "\n")
            .filter { $0.hasPrefix("vigil_phase_duration_seconds_sum{") }
            .compactMap { Double($0.split(separator: " ").last ?? "") }
            .reduce(0, +)
        XCTAssertEqual(sum, Double(total) / 1e9, accuracy: 1e-9, "the histogram sums the spans' durations")
        let openMetrics = registry.renderString(.openMetrics)
        let traceID = exporter.spans[0].context.traceID.description
        XCTAssertTrue(openMetrics.contains("trace_id=\"\(traceID)\""), openMetrics)
        await tracer.shutdown(deadline: .seconds(5))
    }

    func testAfterAnUnloadTheNextCallMakesFreshExportedSeriesAndOtherPluginsKeepTheirs() async throws {
        let registry = Registry()
        let observer = try PluginObserver(registry: registry)
        for _ in 0..<5 { try await observer.observe(plugin: "index", phase: "fetch") {} }
        try await observer.observe(plugin: "other", phase: "fetch") {}
        XCTAssertGreaterThan(observer.unload(plugin: "index"), 0)
        XCTAssertEqual(observer.byName.count, 1, "the unloaded plugin's entry left the cache")
        XCTAssertFalse(registry.renderString().contains("plugin=\"index\""))

        try await observer.observe(plugin: "index", phase: "fetch") {}
        let text = registry.renderString()
        // Not 6: the removed series is not brought back, and the new one is exported.
        XCTAssertTrue(text.contains("vigil_phase_executions_total{plugin=\"index\",phase=\"fetch\"} 1"), text)
        try await observer.observe(plugin: "other", phase: "fetch") {}
        XCTAssertTrue(registry.renderString().contains("vigil_phase_executions_total{plugin=\"other\",phase=\"fetch\"} 2"))
    }

    func testErrorsAreCountedByTypeThroughTheCachedEntry() async throws {
        struct Timeout: ClassifiedError { var errorType: String { "timeout" } }
        let registry = Registry()
        let observer = try PluginObserver(registry: registry)
        for _ in 0..<2 {
            do {
                try await observer.observe(plugin: "index", phase: "fetch") { throw Timeout() }
                XCTFail("the error is rethrown")
            } catch is Timeout {}
        }
        XCTAssertTrue(registry.renderString().contains("vigil_phase_errors_total{plugin=\"index\",phase=\"fetch\",error_type=\"timeout\"} 2"))
    }

    func testConcurrentCallsOverManyPairsWhileTheCacheGrowsLoseNoExecution() async throws {
        let registry = Registry()
        let observer = try PluginObserver(registry: registry)
        let pairs = 100  // past the first table's capacity: the cache grows while others read it
        let rounds = 20
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for round in 0..<rounds {
                        for i in 0..<pairs {
                            let pair = (i + worker * 7 + round) % pairs
                            try? await observer.observe(plugin: "p\(pair % 10)", phase: "phase\(pair)") {}
                        }
                    }
                }
            }
        }
        XCTAssertEqual(observer.byName.count, pairs)
        let text = registry.renderString()
        for pair in 0..<pairs {
            XCTAssertTrue(text.contains("vigil_phase_executions_total{plugin=\"p\(pair % 10)\",phase=\"phase\(pair)\"} \(4 * rounds)"), "pair \(pair)")
        }
    }

    func testTracedCallsMakeAChildSpanNamedAfterThePhaseWithPluginAndPhaseAttributes() async throws {
        let exporter = InMemorySpanExporter()
        var config = BatchSpanProcessor.Configuration()
        config.scheduleDelay = .milliseconds(10)
        let tracer = Tracer(resource: TelemetryResource(attributes: []), sampler: .alwaysOn,
                            processor: BatchSpanProcessor(exporter: exporter, configuration: config), environment: TracingEnvironment())
        let observer = try PluginObserver(registry: Registry(), tracer: tracer)
        try await tracer.withSpan("request") { _ in
            try await observer.observe(plugin: "index", phase: "fetch") {}
            try observer.observe(plugin: "index", phase: "fetch") {}
        }
        await tracer.forceFlush()
        let request = try XCTUnwrap(exporter.spans.first { $0.name == "request" })
        let fetches = exporter.spans.filter { $0.name == "fetch" }
        XCTAssertEqual(fetches.count, 2)
        for fetch in fetches {
            XCTAssertEqual(fetch.parentSpanID, request.context.spanID)
            XCTAssertEqual(fetch.attributes, [Attribute("vigil.plugin", "index"), Attribute("vigil.phase", "fetch")])
        }
    }
}
