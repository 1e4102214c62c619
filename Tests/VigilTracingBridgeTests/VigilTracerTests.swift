import Foundation
import Tracing
import VigilTestSupport
import VigilTracing
import XCTest
@testable import VigilTracingBridge

final class VigilTracerTests: XCTestCase {
    func makeTracer(_ environment: [String: String] = [:]) -> (VigilTracer, InMemorySpanExporter) {
        let exporter = InMemorySpanExporter()
        var config = BatchSpanProcessor.Configuration()
        config.scheduleDelay = .milliseconds(10)
        let tracer = VigilTracing.Tracer(resource: TelemetryResource(attributes: []), processor: BatchSpanProcessor(exporter: exporter, configuration: config),
                                         environment: TracingEnvironment(environment))
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

    func testAttributesSetThroughTheBridgeAreStoredInTheSpanReadBackAndExportedWithinTheLimit() async throws {
        let (tracer, exporter) = makeTracer(["OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "3", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "4"])
        let span = tracer.startSpan("op", ofKind: .internal)
        span.span.setAttribute("native", "n")
        span.attributes["vigil.plugin"] = "ocr"
        span.attributes["vigil.phase"] = "tokenize"
        span.attributes["native"] = "replaced"
        span.attributes["count"] = 7
        XCTAssertEqual(span.attributes.get("vigil.plugin"), .string("ocr"))
        XCTAssertEqual(span.attributes.count, 4, "what was set, before limits")
        span.updateAttributes { $0["extra"] = true }
        span.end()
        await tracer.flush()
        let data = try XCTUnwrap(exporter.spans.first)
        XCTAssertEqual(data.attributes.first, Attribute("native", "repl"), "a bridged value replaces the span's own, truncated")
        XCTAssertEqual(data.attributes.count, 3)
        XCTAssertEqual(data.droppedAttributes, 2)
        let keys = Set(data.attributes.map(\.key))
        XCTAssertTrue(keys.isSubset(of: ["native", "vigil.plugin", "vigil.phase", "count", "extra"]), "\(keys)")
    }

    func testAttributesSetAfterTheEndOrOnAnUnsampledSpanGoNowhereAndConcurrentSetsAreAllKept() async throws {
        let (tracer, exporter) = makeTracer()
        let span = tracer.startSpan("op", ofKind: .internal)
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<4 {
                group.addTask { for i in 0..<50 { span.attributes["t\(t)-\(i)"] = i } }
            }
        }
        XCTAssertEqual(span.attributes.count, 200, "no set is lost when tasks set attributes at once")
        span.end()
        span.attributes["late"] = "ignored"
        XCTAssertNil(span.attributes.get("late"))
        await tracer.flush()
        XCTAssertEqual(exporter.spans.first?.attributes.count, 128, "the default attribute limit")
        XCTAssertEqual(exporter.spans.first?.droppedAttributes, 72)

        let (offTracer, offExporter) = makeTracer(["OTEL_TRACES_SAMPLER": "always_off"])
        let unsampled = offTracer.startSpan("off", ofKind: .internal)
        unsampled.attributes["k"] = "v"
        XCTAssertFalse(unsampled.isRecording)
        XCTAssertTrue(unsampled.attributes.isEmpty)
        unsampled.end()
        await offTracer.flush()
        XCTAssertTrue(offExporter.spans.isEmpty)
    }

    func testBaggageTravelsThroughTheServiceContextWithTheChosenPropagators() throws {
        let (tracer, _) = makeTracer()
        var context = ServiceContext.topLevel
        var baggage = Baggage()
        baggage.set("tenant", "acme corp")
        context.w3cBaggage = baggage
        let span = tracer.startSpan("client", context: context, ofKind: .client)
        var headers: [String: String] = [:]
        tracer.inject(span.context, into: &headers, using: DictionaryInjector())
        XCTAssertEqual(headers["baggage"], "tenant=acme%20corp")
        XCTAssertNotNil(headers["traceparent"])
        var extracted = ServiceContext.topLevel
        tracer.extract(headers, into: &extracted, using: DictionaryExtractor())
        XCTAssertEqual(extracted.w3cBaggage?["tenant"], "acme corp")
        span.end()

        let (traceOnly, _) = makeTracer(["OTEL_PROPAGATORS": "tracecontext"])
        var fewer: [String: String] = [:]
        traceOnly.inject(span.context, into: &fewer, using: DictionaryInjector())
        XCTAssertEqual(Set(fewer.keys), ["traceparent"])
        var ignored = ServiceContext.topLevel
        traceOnly.extract(headers, into: &ignored, using: DictionaryExtractor())
        XCTAssertNil(ignored.w3cBaggage)
        XCTAssertNotNil(ignored.vigilSpanContext)
    }

    // MARK: Across a process boundary

    /// The variable that turns `testChildSideExtractsWhatItIsSent` into the child's side.
    static let childInput = "VIGIL_TEST_PROPAGATED_HEADERS"

    /// The parent injects a span context and baggage, starts this test binary again as a child
    /// process running only `testChildSideExtractsWhatItIsSent`, hands it the headers, and reads
    /// back what the child extracted through its own VigilTracer.
    func testBaggageAndTheTraceCrossAProcessBoundary() throws {
        let (tracer, _) = makeTracer()
        var context = ServiceContext.topLevel
        var baggage = Baggage()
        baggage.set("tenant", "acme, eu")
        baggage.set("request.class", "batch", properties: ["ttl=30"])
        context.w3cBaggage = baggage
        let span = tracer.startSpan("client", context: context, ofKind: .client)
        defer { span.end() }
        var headers: [String: String] = [:]
        tracer.inject(span.context, into: &headers, using: DictionaryInjector())
        let wire = headers.map { "\($0.key): \($0.value)" }.sorted().joined(separator: "\n")

        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        child.arguments = ["VigilTracingBridgeTests.VigilTracerTests/testChildSideExtractsWhatItIsSent"]
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OTEL_") }
        environment[Self.childInput] = wire
        child.environment = environment
        let output = Pipe()
        child.standardOutput = output
        child.standardError = FileHandle.nullDevice
        try child.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        XCTAssertEqual(child.terminationStatus, 0, printed)
        let lines = printed.split(separator: "\n").filter { $0.hasPrefix("extracted ") }.map { String($0.dropFirst("extracted ".count)) }
        XCTAssertEqual(lines.sorted(), [
            "baggage request.class=batch;ttl=30",
            "baggage tenant=acme, eu",
            "parent \(span.span.context.traceID)-\(span.span.context.spanID)",
        ], printed)
    }

    /// The child's side of the test above; does nothing when run on its own.
    func testChildSideExtractsWhatItIsSent() throws {
        guard let wire = ProcessInfo.processInfo.environment[Self.childInput] else { return }
        var headers: [String: String] = [:]
        for line in wire.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            headers[String(parts[0])] = String(parts[1].dropFirst())
        }
        let (tracer, _) = makeTracer()
        var context = ServiceContext.topLevel
        tracer.extract(headers, into: &context, using: DictionaryExtractor())
        let server = tracer.startSpan("server", context: context, ofKind: .server)
        defer { server.end() }
        var report: [String] = []
        if let parent = server.span.parentSpanID { report.append("parent \(server.span.context.traceID)-\(parent)") }
        for entry in context.w3cBaggage?.entries ?? [] {
            report.append("baggage \(entry.key)=\(entry.value)" + entry.properties.map { ";\($0)" }.joined())
        }
        print(report.map { "extracted \($0)" }.joined(separator: "\n"))
    }
}
