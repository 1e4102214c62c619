import Foundation
import VigilMetrics
import VigilSupport
import VigilTestSupport
import XCTest
@testable import VigilTracing

final class TracerTests: XCTestCase {
    func make(_ exporter: InMemorySpanExporter, sampler: Sampler = .default, queue: Int = 2048, batch: Int = 512,
              delay: Duration = .milliseconds(20), registry: Registry = Registry()) -> Tracer {
        var config = BatchSpanProcessor.Configuration()
        config.maxQueueSize = queue
        config.maxExportBatchSize = batch
        config.scheduleDelay = delay
        let processor = BatchSpanProcessor(exporter: exporter, configuration: config, registry: registry)
        return Tracer(resource: TelemetryResource(attributes: [Attribute("service.name", "t")]), sampler: sampler,
                      processor: processor, registry: registry, environment: TracingEnvironment())
    }

    func testChildrenInTasksAndChildTasksShareTheTraceAndNameTheirParent() async throws {
        let exporter = InMemorySpanExporter()
        let tracer = make(exporter)
        let (rootContext, inner) = await tracer.withSpan("root") { root in
            let inner = await withTaskGroup(of: SpanContext.self) { group in
                for i in 0..<3 { group.addTask { await tracer.withSpan("child-\(i)") { $0.context } } }
                return await group.reduce(into: [SpanContext]()) { $0.append($1) }
            }
            return (root.context, inner)
        }
        XCTAssertNil(Span.current, "the scope ends with withSpan")
        await tracer.forceFlush()
        let spans = exporter.spans
        XCTAssertEqual(spans.count, 4)
        for context in inner {
            XCTAssertEqual(context.traceID, rootContext.traceID)
            XCTAssertEqual(spans.first { $0.context.spanID == context.spanID }?.parentSpanID, rootContext.spanID)
        }
        XCTAssertNil(spans.first { $0.name == "root" }?.parentSpanID)
    }

    func testExplicitParentContextAndRemoteParents() throws {
        let tracer = make(InMemorySpanExporter())
        let remote = W3CTraceContext.parse(traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", tracestate: "rojo=1")!
        let span = tracer.startSpan("server", kind: .server, parent: .context(remote))
        XCTAssertEqual(span.context.traceID, remote.traceID)
        XCTAssertEqual(span.parentSpanID, remote.spanID)
        XCTAssertEqual(span.context.traceState["rojo"], "1")
        XCTAssertFalse(span.context.isRemote)
        let root = tracer.startSpan("new", parent: .none)
        XCTAssertNil(root.parentSpanID)
        XCTAssertNotEqual(root.context.traceID, remote.traceID)
    }

    func testSamplers() {
        let parentOn = SpanContext(traceID: .random(), spanID: .random(), traceFlags: 1)
        let parentOff = SpanContext(traceID: .random(), spanID: .random(), traceFlags: 0)
        XCTAssertTrue(Sampler.default.shouldSample(traceID: .random(), parent: nil))
        XCTAssertTrue(Sampler.default.shouldSample(traceID: parentOn.traceID, parent: parentOn))
        XCTAssertFalse(Sampler.default.shouldSample(traceID: parentOff.traceID, parent: parentOff))
        XCTAssertFalse(Sampler.alwaysOff.shouldSample(traceID: .random(), parent: parentOn))
        XCTAssertTrue(Sampler.alwaysOn.shouldSample(traceID: .random(), parent: parentOff))
        let kept = (0..<20_000).filter { _ in Sampler.traceIDRatio(0.25).shouldSample(traceID: .random(), parent: nil) }.count
        XCTAssertEqual(Double(kept) / 20_000, 0.25, accuracy: 0.02)
        // The decision depends on the trace id alone: every service agrees.
        let id = TraceID.random()
        XCTAssertEqual(Sampler.traceIDRatio(0.5).shouldSample(traceID: id, parent: nil), Sampler.traceIDRatio(0.5).shouldSample(traceID: id, parent: nil))
    }

    func testUnsampledSpansPropagateButAreNotExported() async {
        let exporter = InMemorySpanExporter()
        let tracer = make(exporter, sampler: .alwaysOff)
        await tracer.withSpan("dropped") { span in
            XCTAssertFalse(span.isRecording)
            XCTAssertFalse(span.context.isSampled)
            XCTAssertTrue(span.context.isValid)
            span.setAttribute("ignored", 1)
            let child = tracer.startSpan("child")
            XCTAssertEqual(child.context.traceID, span.context.traceID)
            child.end()
        }
        await tracer.forceFlush()
        XCTAssertTrue(exporter.spans.isEmpty)
    }

    func testASpanEndsOnceAndASecondEndIsCounted() async {
        let exporter = InMemorySpanExporter()
        let registry = Registry()
        let tracer = make(exporter, registry: registry)
        let span = tracer.startSpan("once")
        span.end()
        span.end()
        span.setAttribute("late", 1)  // ignored after the end
        await tracer.forceFlush()
        XCTAssertEqual(exporter.spans.count, 1)
        XCTAssertTrue(exporter.spans[0].attributes.isEmpty)
        XCTAssertTrue(registry.renderString().contains("vigil_span_end_errors_total 1\n"))
    }

    func testErrorsAndCancellationAreRecordedDifferently() async {
        let exporter = InMemorySpanExporter()
        let tracer = make(exporter)
        struct Boom: Error {}
        _ = try? await tracer.withSpan("fails") { _ in throw Boom() }
        _ = try? await tracer.withSpan("cancelled") { _ in throw CancellationError() }
        await tracer.forceFlush()
        let failed = exporter.spans.first { $0.name == "fails" }
        let cancelled = exporter.spans.first { $0.name == "cancelled" }
        XCTAssertEqual(failed?.status, .error(message: "Boom()"))
        XCTAssertEqual(failed?.events.first?.name, "exception")
        XCTAssertEqual(cancelled?.status, .unset)
        XCTAssertEqual(cancelled?.events.map(\.name), ["cancelled"])
    }

    func testStatusOkIsFinalAndAttributesAreCapped() async {
        let exporter = InMemorySpanExporter()
        var limits = SpanLimits()
        limits.attributes = 2
        let processor = BatchSpanProcessor(exporter: exporter, configuration: { var c = BatchSpanProcessor.Configuration(); c.scheduleDelay = .milliseconds(10); return c }())
        let tracer = Tracer(resource: TelemetryResource(attributes: []), limits: limits, processor: processor)
        let span = tracer.startSpan("s")
        span.setAttribute("a", 1)
        span.setAttribute("b", 2)
        span.setAttribute("c", 3)
        span.setAttribute("a", 10)
        span.setStatus(.ok)
        span.setStatus(.error(message: "late"))
        span.end()
        await tracer.forceFlush()
        let data = exporter.spans[0]
        XCTAssertEqual(data.attributes, [Attribute("a", 10), Attribute("b", 2)])
        XCTAssertEqual(data.droppedAttributes, 1)
        XCTAssertEqual(data.status, .ok)
    }

    func testFullBatchesGoOutWithoutWaitingForTheDelayAndFlushDeliversEverything() async {
        let exporter = InMemorySpanExporter()
        let tracer = make(exporter, batch: 10, delay: .seconds(60))
        for i in 0..<25 { tracer.startSpan("s\(i)").end() }
        await tracer.forceFlush()
        XCTAssertEqual(exporter.spans.count, 25)
        XCTAssertTrue(exporter.batchSizes.allSatisfy { $0 <= 10 })
        XCTAssertEqual(Set(exporter.spans.map(\.name)).count, 25)
    }

    func testFullQueueDropsAndCountsAndShutdownDropsWhatCannotBeSent() async {
        let exporter = InMemorySpanExporter()
        exporter.hold()  // busy until released: one batch of 5 in the exporter, 5 in the queue
        let registry = Registry()
        let tracer = make(exporter, queue: 5, batch: 5, delay: .milliseconds(1), registry: registry)
        for i in 0..<20 { tracer.startSpan("s\(i)").end() }
        let text = registry.renderString()
        let line = text.split(separator: "\n").first { $0.hasPrefix("vigil_spans_dropped_total{reason=\"queue_full\"}") }
        XCTAssertGreaterThanOrEqual(Int(line?.split(separator: " ").last ?? "") ?? 0, 10, text)
        exporter.release()
        await tracer.shutdown(deadline: .seconds(5))
        tracer.startSpan("after").end()
        XCTAssertTrue(registry.renderString().contains("vigil_spans_dropped_total{reason=\"shutdown\"} 1\n"))
        XCTAssertFalse(exporter.spans.contains { $0.name == "after" })
        XCTAssertTrue(exporter.isShutDown, "shutdown reaches the exporter")
    }

    /// Exported spans stay in their queue slots until later spans overwrite them (so that they
    /// are freed on the thread making spans), and a quiet round of the worker frees the rest:
    /// nothing is kept for good, and what is queued twice over the slots is exported exactly once.
    func testExportedSpansAreReleasedOnceOverwrittenOrAfterAQuietRound() async throws {
        let exporter = InMemorySpanExporter()
        let tracer = make(exporter, queue: 8, batch: 4, delay: .milliseconds(5))
        weak var first: Span?
        do {
            let span = tracer.startSpan("first")
            first = span
            span.end()
        }
        await tracer.forceFlush()
        for round in 0..<3 {
            for i in 0..<6 { tracer.startSpan("r\(round)-\(i)").end() }
            await tracer.forceFlush()
        }
        XCTAssertEqual(exporter.spans.count, 19)
        XCTAssertEqual(Set(exporter.spans.map(\.name)).count, 19, "each span exported once")
        XCTAssertNil(first, "the first span's slot was overwritten")
        weak var last: Span?
        do {
            let span = tracer.startSpan("last")
            last = span
            span.end()
        }
        await tracer.forceFlush()
        // The next round finds nothing queued and lets go of the exported spans.
        let deadline = ContinuousClock.now + .seconds(10)
        while last != nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertNil(last, "a quiet round releases what the slots still hold")
        await tracer.shutdown(deadline: .seconds(5))
    }

    func testTimestampsFromTheMonotonicClockAreWallClockTime() {
        let wall = SystemClock.wallNanoseconds()
        let start = SystemClock.monotonicNanoseconds()
        let anchored = SystemClock.wallNanoseconds(atMonotonic: start)
        let later = SystemClock.wallNanoseconds(atMonotonic: start + 1_500_000)
        XCTAssertLessThan(anchored > wall ? anchored - wall : wall - anchored, 50_000_000, "within 50 ms of the realtime clock")
        XCTAssertEqual(later - anchored, 1_500_000, "differences are the monotonic clock's")
    }

    func testBatchConfigurationFromTheEnvironment() {
        let c = BatchSpanProcessor.Configuration.fromEnvironment([
            "OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "500",
            "OTEL_BSP_SCHEDULE_DELAY": "250", "OTEL_BSP_EXPORT_TIMEOUT": "-1",
        ])
        XCTAssertEqual(c.maxQueueSize, 100)
        XCTAssertEqual(c.maxExportBatchSize, 100, "a batch is never larger than the queue")
        XCTAssertEqual(c.scheduleDelay, .milliseconds(250))
        XCTAssertEqual(c.exportTimeout, .seconds(30))
        let d = BatchSpanProcessor.Configuration()
        XCTAssertEqual([d.maxQueueSize, d.maxExportBatchSize], [2048, 512])
        XCTAssertEqual(d.scheduleDelay, .seconds(5))
    }
}
