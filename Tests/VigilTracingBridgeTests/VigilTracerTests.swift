import Foundation
import Tracing
import VigilTestSupport
import VigilTracing
import XCTest
@testable import VigilTracingBridge

final class VigilTracerTests: XCTestCase {
    func makeTracer() -> (VigilTracer, InMemorySpanExporter) {
        let exporter = InMemorySpanExporter()
        var config = BatchSpanProcessor.Configuration()
        config.scheduleDelay = .milliseconds(10)
        let tracer = VigilTracing.Tracer(resource: TelemetryResource(attributes: []), processor: BatchSpanProcessor(exporter: exporter, configuration: config))
        return (VigilTracer(tracer), exporter)
    }

    struct DictionaryInjector: Injector { func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value } }
    struct DictionaryExtractor: Extractor { func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] } }

    func testWithSpanBuildsTreesAndCarriesAttributesEventsAndStatus() async throws {
        let (tracer, exporter) = makeTracer()
        try await tracer.withSpan("outer", ofKind: .server) { outer in
            outer.attributes["http.route"] = "/plugins"
            outer.attributes["retries"] = 2
            outer.addEvent(Tracing.SpanEvent(name: "accepted"))
            try await tracer.withSpan("inner", context: outer.context) { inner in
                inner.setStatus(Tracing.SpanStatus(code: .error, message: "nope"))
                XCTAssertEqual(inner.context.vigilSpanContext?.traceID, outer.context.vigilSpanContext?.traceID)
            }
        }
        await tracer.flush()
        let outer = try XCTUnwrap(exporter.spans.first { $0.name == "outer" })
        let inner = try XCTUnwrap(exporter.spans.first { $0.name == "inner" })
        XCTAssertEqual(inner.parentSpanID, outer.context.spanID)
        XCTAssertEqual(outer.kind, .server)
        XCTAssertTrue(outer.attributes.contains(Attribute("http.route", "/plugins")))
        XCTAssertTrue(outer.attributes.contains(Attribute("retries", .int(2))))
        XCTAssertEqual(outer.events.map(\.name), ["accepted"])
        XCTAssertEqual(inner.status, .error(message: "nope"))
    }

    func testInjectAndExtractUseW3CTraceContext() throws {
        let (tracer, _) = makeTracer()
        let span = tracer.startSpan("client", ofKind: .client)
        var headers: [String: String] = [:]
        tracer.inject(span.context, into: &headers, using: DictionaryInjector())
        let traceparent = try XCTUnwrap(headers["traceparent"])
        XCTAssertEqual(W3CTraceContext.parse(traceparent: traceparent)?.spanID, span.span.context.spanID)
        var extracted = ServiceContext.topLevel
        tracer.extract(headers, into: &extracted, using: DictionaryExtractor())
        XCTAssertEqual(extracted.vigilSpanContext?.traceID, span.span.context.traceID)
        let server = tracer.startSpan("server", context: extracted, ofKind: .server)
        XCTAssertEqual(server.span.parentSpanID, span.span.context.spanID)
        span.end()
        server.end()
    }
}
