import Foundation
import VigilMetrics
import VigilTestSupport
import VigilTracing
import XCTest
@testable import VigilInstrument

struct Tokenize: Phase {
    var name: String { "tokenize" }
    func execute(_ input: String) async throws -> [String] { input.split(separator: " ").map(String.init) }
}

struct Count: Phase {
    struct TooMany: ClassifiedError { var errorType: String { "too_many_words" } }
    var name: String { "count" }
    func execute(_ input: [String]) async throws -> Int {
        if input.count > 5 { throw TooMany() }
        return input.count
    }
}

struct Store: Phase {
    struct Unlabelled: Error {}
    var name: String { "store" }
    func execute(_ input: Int) async throws -> String {
        if input == 4 { try await Task.sleep(for: .seconds(30)) }  // long enough to be cancelled
        if input == 3 { throw Unlabelled() }
        return "stored \(input)"
    }
}

struct WordCounter: Plugin {
    var name: String { "words" }
    var phases: PhaseChain<PhaseChain<Tokenize, Count>, Store> { Tokenize().then(Count()).then(Store()) }
}

final class ObservedPluginTests: XCTestCase {
    func setUpObserver() throws -> (PluginObserver, Registry, InMemorySpanExporter, Tracer) {
        let registry = Registry()
        let exporter = InMemorySpanExporter()
        var config = BatchSpanProcessor.Configuration()
        config.scheduleDelay = .milliseconds(10)
        let tracer = Tracer(resource: TelemetryResource(attributes: []), processor: BatchSpanProcessor(exporter: exporter, configuration: config))
        return (try PluginObserver(registry: registry, tracer: tracer), registry, exporter, tracer)
    }

    func value(_ text: String, _ series: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
    }

    func testSuccessFailureCancellationAndConcurrency() async throws {
        let (observer, registry, exporter, tracer) = try setUpObserver()
        let plugin = WordCounter().observed(by: observer)
        // 100 concurrent successful runs.
        try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<100 { group.addTask { try await plugin.run(i.isMultiple(of: 2) ? "a b" : "a") } }
            for try await _ in group {}
        }
        // A classified failure in the second phase, an unclassified one in the third.
        await XCTAssertThrowsErrorAsync(try await plugin.run("a b c d e f g"))
        await XCTAssertThrowsErrorAsync(try await plugin.run("a b c"))
        // Cancellation in the third phase.
        let cancelled = Task { try await plugin.run("a b c d") }
        try await waitUntil("the run of four words to reach its store phase") {
            value(registry.renderString(), "vigil_phase_in_flight{plugin=\"words\",phase=\"store\"}") == 1
        }
        cancelled.cancel()
        await XCTAssertThrowsErrorAsync(try await cancelled.value)
        await tracer.forceFlush()

        let text = registry.renderString(.openMetrics)
        XCTAssertEqual(value(text, "vigil_phase_executions_total{plugin=\"words\",phase=\"tokenize\"}"), 103)
        XCTAssertEqual(value(text, "vigil_phase_executions_total{plugin=\"words\",phase=\"count\"}"), 103)
        XCTAssertEqual(value(text, "vigil_phase_executions_total{plugin=\"words\",phase=\"store\"}"), 102)
        XCTAssertEqual(value(text, "vigil_phase_errors_total{plugin=\"words\",phase=\"count\",error_type=\"too_many_words\"}"), 1)
        XCTAssertEqual(value(text, "vigil_phase_errors_total{plugin=\"words\",phase=\"store\",error_type=\"Unlabelled\"}"), 1)
        XCTAssertFalse(text.contains("CancellationError"), "cancellation is not an error")
        XCTAssertEqual(value(text, "vigil_phase_duration_seconds_count{plugin=\"words\",phase=\"store\"}"), 102)
        for phase in ["tokenize", "count", "store"] {
            XCTAssertEqual(value(text, "vigil_phase_in_flight{plugin=\"words\",phase=\"\(phase)\"}"), 0, phase)
        }

        // One tree per run: a root named after the plugin with its phases as children.
        let spans = exporter.spans
        let roots = spans.filter { $0.parentSpanID == nil }
        XCTAssertEqual(roots.count, 103)
        XCTAssertTrue(roots.allSatisfy { $0.name == "words" })
        for root in roots {
            let children = spans.filter { $0.parentSpanID == root.context.spanID }
            XCTAssertTrue(children.allSatisfy { $0.context.traceID == root.context.traceID })
            XCTAssertEqual(children.map(\.name).sorted(), children.count == 3 ? ["count", "store", "tokenize"] : ["count", "tokenize"])
        }
        let failedCount = spans.first { $0.name == "count" && $0.status != .unset }
        XCTAssertEqual(failedCount?.status, .error(message: "TooMany()"))
        let cancelledStore = spans.first { $0.name == "store" && $0.events.contains { $0.name == "cancelled" } }
        XCTAssertNotNil(cancelledStore)
        XCTAssertEqual(cancelledStore?.status, .unset)

        // Bucket exemplars name real spans.
        let exemplars = text.split(separator: "\n").filter { $0.hasPrefix("vigil_phase_duration_seconds_bucket") && $0.contains(" # {") }
        XCTAssertFalse(exemplars.isEmpty)
        let spanIDs = Set(spans.map(\.context.spanID.description))
        for line in exemplars {
            let spanID = String(line.split(separator: "span_id=\"")[1].prefix(16))
            XCTAssertTrue(spanIDs.contains(spanID), "exemplar span \(spanID) is not an exported span")
        }
    }

    func testClosureFormsObserveWithoutAPhaseType() async throws {
        let (observer, registry, _, _) = try setUpObserver()
        let n = try await observer.observe(plugin: "p", phase: "fetch") { 41 + 1 }
        XCTAssertEqual(n, 42)
        XCTAssertThrowsError(try observer.observe(plugin: "p", phase: "parse") { () throws -> Int in throw Count.TooMany() })
        let text = registry.renderString()
        XCTAssertEqual(value(text, "vigil_phase_executions_total{plugin=\"p\",phase=\"fetch\"}"), 1)
        XCTAssertEqual(value(text, "vigil_phase_errors_total{plugin=\"p\",phase=\"parse\",error_type=\"too_many_words\"}"), 1)
    }

    func testWithoutATracerPhasesAreCountedAndTimedOnly() async throws {
        let registry = Registry()
        let observer = try PluginObserver(registry: registry)
        _ = try await Tokenize().observed(plugin: "p", by: observer).execute("x y")
        let text = registry.renderString(.openMetrics)
        XCTAssertEqual(value(text, "vigil_phase_executions_total{plugin=\"p\",phase=\"tokenize\"}"), 1)
        XCTAssertFalse(text.contains("trace_id"))
    }
}

func XCTAssertThrowsErrorAsync<T>(_ expression: @autoclosure () async throws -> T, file: StaticString = #filePath, line: UInt = #line) async {
    do {
        _ = try await expression()
        XCTFail("expected an error", file: file, line: line)
    } catch {}
}
