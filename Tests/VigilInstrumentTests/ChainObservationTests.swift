import Foundation
import VigilMetrics
import VigilTracing
import XCTest
@testable import VigilInstrument

/// `observed(plugin:by:)` is the one way to observe: on a chain it observes each phase.
final class ChainObservationTests: XCTestCase {
    func testAnObservedChainCountsEachPhaseAndNeverTheChainAsAWhole() async throws {
        let registry = Registry()
        let observer = try PluginObserver(registry: registry)
        let chain = Tokenize().then(Count()).observed(plugin: "p", by: observer)
        let words = try await chain.execute("a b c")
        XCTAssertEqual(words, 3)
        let text = registry.renderString()
        XCTAssertTrue(text.contains("vigil_phase_executions_total{plugin=\"p\",phase=\"tokenize\"} 1"), text)
        XCTAssertTrue(text.contains("vigil_phase_executions_total{plugin=\"p\",phase=\"count\"} 1"), text)
        XCTAssertFalse(text.contains("tokenize+count"), text)
    }

    func testAGuardedPhaseInsideAChainIsObservedAsItselfWithItsRejections() async throws {
        let registry = Registry()
        let observer = try PluginObserver(registry: registry)
        var configuration = CircuitBreaker.Configuration()
        configuration.policy = .consecutiveFailures(1)
        let breaker = try CircuitBreaker(plugin: "p", name: "b", configuration: configuration, registry: registry)
        let chain = Tokenize().then(Count().guarded(by: breaker)).observed(plugin: "p", by: observer)
        for _ in 0..<2 { _ = try? await chain.execute("1 2 3 4 5 6") }  // too many words: fails, then is rejected
        let text = registry.renderString()
        XCTAssertTrue(text.contains("vigil_phase_errors_total{plugin=\"p\",phase=\"count\",error_type=\"too_many_words\"} 1"), text)
        XCTAssertTrue(text.contains("vigil_phase_errors_total{plugin=\"p\",phase=\"count\",error_type=\"circuit_open\"} 1"), text)
        XCTAssertTrue(text.contains("vigil_phase_executions_total{plugin=\"p\",phase=\"tokenize\"} 2"), text)
    }

    func testAPluginRunIsOneSpanTreeWithAChildSpanPerPhase() async throws {
        let registry = Registry()
        let exporter = Spans()
        let tracer = Tracer(resource: TelemetryResource(attributes: []), processor: exporter)
        let observer = try PluginObserver(registry: registry, tracer: tracer)
        _ = try await Pair().observed(by: observer).run("x y")
        let spans = exporter.ended
        let root = try XCTUnwrap(spans.first { $0.name == "pair" })
        XCTAssertNil(root.parentSpanID)
        let children = spans.filter { $0.parentSpanID == root.context.spanID }.map(\.name).sorted()
        XCTAssertEqual(children, ["count", "tokenize"])
        XCTAssertTrue(spans.allSatisfy { $0.context.traceID == root.context.traceID })
    }
}

private struct Pair: Plugin {
    var name: String { "pair" }
    var phases: PhaseChain<Tokenize, Count> { Tokenize().then(Count()) }
}

/// Keeps ended spans as they end, with no batching to wait for.
private final class Spans: SpanProcessor, @unchecked Sendable {
    private let lock = NSLock()
    private var spans: [SpanData] = []
    func onEnd(_ span: Span) { lock.withLock { spans.append(span.snapshot) } }
    func forceFlush() async {}
    func shutdown(deadline: Duration) async {}
    var ended: [SpanData] { lock.withLock { spans } }
}
