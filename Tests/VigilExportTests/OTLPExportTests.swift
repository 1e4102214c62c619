import Foundation
import VigilContract
import VigilMetrics
import VigilTestSupport
import VigilTracing
import XCTest
@testable import VigilExport

/// Real exports to the Python receiver, which decodes them with opentelemetry-proto.
final class OTLPExportTests: XCTestCase {
    func pipeline(_ receiver: OTLPReceiver, encoding: OTLPConfiguration.Encoding = .protobuf, gzip: Bool = true,
                  queue: Int = 2048, timeout: Duration = .seconds(5), retry: RetryPolicy = RetryPolicy(),
                  registry: Registry = Registry()) -> (Tracer, Registry) {
        pipeline(endpoint: receiver.endpoint, encoding: encoding, gzip: gzip, queue: queue, timeout: timeout, retry: retry, registry: registry)
    }

    func pipeline(endpoint: String, encoding: OTLPConfiguration.Encoding = .protobuf, gzip: Bool = true,
                  queue: Int = 2048, timeout: Duration = .seconds(5), retry: RetryPolicy = RetryPolicy(),
                  registry: Registry = Registry()) -> (Tracer, Registry) {
        let resource = TelemetryResource.detect(serviceName: "vigil-tests", serviceVersion: "1.2.3", environment: [
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test,team=obs%20ervability",
        ])
        let exporter = OTLPHTTPExporter(
            configuration: OTLPConfiguration(tracesEndpoint: endpoint, headers: [("Authorization", "Bearer s3cret")],
                                             gzip: gzip, timeout: timeout, encoding: encoding, retry: retry),
            resource: resource, registry: registry)
        var config = BatchSpanProcessor.Configuration()
        config.scheduleDelay = .milliseconds(50)
        config.maxQueueSize = queue
        config.exportTimeout = .seconds(20)
        let processor = BatchSpanProcessor(exporter: exporter, configuration: config, registry: registry)
        return (Tracer(resource: resource, processor: processor, registry: registry), registry)
    }

    /// A root with three children: one in the task, one in a child task, one on "an event loop"
    /// with the context passed explicitly. Returns the ids of each.
    func makeTree(_ tracer: Tracer) async throws -> [String: SpanContext] {
        var ids: [String: SpanContext] = [:]
        let link = SpanContext(traceID: .random(), spanID: .random(), isRemote: true)
        await tracer.withSpan("request", kind: .server, attributes: [
            Attribute("http.method", "GET"), Attribute("retries", 3), Attribute("ratio", 0.25), Attribute("cached", true),
            Attribute("tags", .stringArray(["a", "b"])), Attribute("codes", .intArray([200, 404])),
        ]) { root in
            ids["request"] = root.context
            root.addLink(SpanLink(link, attributes: [Attribute("why", "retry-of")]))
            tracer.withSpan("tokenize") { span in
                ids["tokenize"] = span.context
                span.addEvent("batch", attributes: [Attribute("size", 12)])
            }
            let child = await Task { tracer.withSpan("embed", kind: .client) { span in span.context } }.value
            ids["embed"] = child
            let onLoop = tracer.startSpan("write", parent: .context(root.context))
            onLoop.recordError(WriteError.diskFull)
            onLoop.end()
            ids["write"] = onLoop.context
        }
        return ids
    }

    enum WriteError: Error { case diskFull }

    func checkTree(_ spans: [OTLPReceiver.ReceivedSpan], _ ids: [String: SpanContext], file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(spans.count, 4, file: file, line: line)
        XCTAssertEqual(Set(spans.map(\.span_id)).count, 4, "every span once", file: file, line: line)
        let byName = Dictionary(uniqueKeysWithValues: spans.map { ($0.name, $0) })
        let root = try XCTUnwrap(byName["request"])
        XCTAssertEqual(root.trace_id, ids["request"]!.traceID.description)
        XCTAssertEqual(root.parent_span_id, "")
        XCTAssertNotEqual(root.trace_id, String(repeating: "0", count: 32))
        for name in ["tokenize", "embed", "write"] {
            let span = try XCTUnwrap(byName[name], name)
            XCTAssertEqual(span.trace_id, root.trace_id, name)
            XCTAssertEqual(span.parent_span_id, root.span_id, name)
            XCTAssertEqual(span.span_id, ids[name]!.spanID.description, name)
            XCTAssertNotEqual(span.span_id, String(repeating: "0", count: 16))
            XCTAssertLessThanOrEqual(span.start, span.end)
        }
        XCTAssertEqual(root.kind, 2)
        XCTAssertEqual(byName["embed"]?.kind, 3)
        XCTAssertEqual(root.attributes["http.method"], .string("GET"))
        XCTAssertEqual(root.attributes["retries"], .int(3))
        XCTAssertEqual(root.attributes["ratio"], .double(0.25))
        XCTAssertEqual(root.attributes["cached"], .bool(true))
        XCTAssertEqual(root.attributes["tags"], .array([.string("a"), .string("b")]))
        XCTAssertEqual(root.attributes["codes"], .array([.int(200), .int(404)]))
        XCTAssertEqual(root.links.first?.attributes["why"], .string("retry-of"))
        XCTAssertEqual(byName["tokenize"]?.events.first?.name, "batch")
        XCTAssertEqual(byName["tokenize"]?.events.first?.attributes["size"], .int(12))
        XCTAssertEqual(byName["write"]?.status.code, 2)
        XCTAssertEqual(byName["write"]?.status.message, "diskFull")
        XCTAssertEqual(byName["write"]?.events.first?.name, "exception")
        XCTAssertEqual(root.status.code, 0)
        XCTAssertEqual(root.flags & 0xFF, 1)
        XCTAssertEqual(root.resource["service.name"], .string("vigil-tests"))
        XCTAssertEqual(root.resource["service.version"], .string("1.2.3"))
        XCTAssertEqual(root.resource["team"], .string("obs ervability"))
        XCTAssertEqual(root.resource["deployment.environment"], .string("test"))
        XCTAssertEqual(root.resource["process.pid"], .int(Int64(ProcessInfo.processInfo.processIdentifier)))
        XCTAssertNotNil(root.resource["host.name"])
        XCTAssertEqual(root.scope, ["name": "vigil", "version": VigilVersion.current])
    }

    func testProtobufExportArrivesWholeAsATree() async throws {
        let receiver = try OTLPReceiver()
        let (tracer, registry) = pipeline(receiver)
        let ids = try await makeTree(tracer)
        await tracer.forceFlush()
        let received = try await receiver.received()
        XCTAssertEqual(received.count, 1)
        let request = try XCTUnwrap(received.first)
        XCTAssertTrue(request.gzip)
        XCTAssertEqual(request.content_type, "application/x-protobuf")
        XCTAssertTrue(request.user_agent?.hasPrefix("vigil/") == true)
        XCTAssertEqual(request.authorization, "Bearer s3cret")
        XCTAssertNil(request.error)
        try checkTree(try XCTUnwrap(request.spans), ids)
        XCTAssertTrue(registry.renderString().contains("vigil_spans_exported_total 4\n"))
        XCTAssertTrue(registry.renderString().contains("vigil_push_total{target=\"otlp\",result=\"success\"} 1\n"))
        XCTAssertTrue(registry.renderString().contains("vigil_push_total{target=\"otlp\",result=\"failure\"} 0\n"))
        await tracer.shutdown()
    }

    func testJSONExportArrivesWholeAsATree() async throws {
        let receiver = try OTLPReceiver()
        let (tracer, _) = pipeline(receiver, encoding: .json, gzip: false)
        let ids = try await makeTree(tracer)
        await tracer.forceFlush()
        let all = try await receiver.received()
        let request = try XCTUnwrap(all.first)
        XCTAssertFalse(request.gzip)
        XCTAssertEqual(request.content_type, "application/json")
        XCTAssertNil(request.error, request.error ?? "")
        try checkTree(try XCTUnwrap(request.spans), ids)
        await tracer.shutdown()
    }

    func testServiceUnavailableWithRetryAfterIsRetriedOnceAfterTheWait() async throws {
        let receiver = try OTLPReceiver()
        try await receiver.script([["status": 503, "retry_after": "1"]])
        let (tracer, registry) = pipeline(receiver)
        tracer.withSpan("once") { _ in }
        await tracer.forceFlush()
        let received = try await receiver.received()
        XCTAssertEqual(received.map(\.answered), [503, 200])
        XCTAssertGreaterThanOrEqual(received[1].time - received[0].time, 0.95, "Retry-After: 1 was honoured")
        XCTAssertEqual(received[1].spans?.map(\.name), ["once"])
        XCTAssertTrue(registry.renderString().contains("vigil_spans_exported_total 1\n"))
        await tracer.shutdown()
    }

    func testBadRequestIsDroppedCountedAndNotRetried() async throws {
        let receiver = try OTLPReceiver()
        try await receiver.script([["status": 400]])
        let (tracer, registry) = pipeline(receiver)
        tracer.withSpan("a") { _ in }
        tracer.withSpan("b") { _ in }
        // forceFlush returns once the export has finished, retries and all, so every attempt has
        // been answered by now; a second flush would carry whatever was queued again for later.
        await tracer.forceFlush()
        await tracer.forceFlush()
        let answers = try await receiver.received().map(\.answered)
        XCTAssertEqual(answers, [400])
        let text = registry.renderString()
        XCTAssertTrue(text.contains("vigil_spans_dropped_total{reason=\"export_failed\"} 2\n"), text)
        XCTAssertTrue(text.contains("vigil_push_total{target=\"otlp\",result=\"failure\"} 1\n"), text)
        await tracer.shutdown()
    }

    func testPartialSuccessCountsRejectedSpans() async throws {
        let receiver = try OTLPReceiver()
        try await receiver.script([["status": 200, "rejected": 1, "message": "span too old"]])
        let (tracer, registry) = pipeline(receiver)
        tracer.withSpan("a") { _ in }
        tracer.withSpan("b") { _ in }
        await tracer.forceFlush()
        let text = registry.renderString()
        XCTAssertTrue(text.contains("vigil_spans_dropped_total{reason=\"rejected\"} 1\n"), text)
        XCTAssertTrue(text.contains("vigil_spans_exported_total 1\n"), text)
        await tracer.shutdown()
    }

    func testReceiverDownThenUpQueuedSpansArriveAndAFullQueueDropsWithoutWaiting() async throws {
        let down = try TurnAwayListener()  // every connection to the port fails
        let port = down.port
        var retry = RetryPolicy()
        retry.initialBackoff = .milliseconds(200)
        retry.maxBackoff = .milliseconds(400)
        retry.maxAttempts = 40
        let (tracer, registry) = pipeline(endpoint: "http://127.0.0.1:\(port)/v1/traces", queue: 10, retry: retry)
        // 25 spans while the receiver is down: every end() returns at once; 10 are queued or in
        // flight and the rest are dropped and counted.
        for i in 0..<25 { tracer.withSpan("span-\(i)") { _ in } }
        let dropped = registry.renderString().split(separator: "\n").first { $0.hasPrefix("vigil_spans_dropped_total{reason=\"queue_full\"}") }
        let droppedCount = Int(dropped?.split(separator: " ").last ?? "0") ?? 0
        XCTAssertGreaterThanOrEqual(droppedCount, 15 - 10)  // the worker may have taken a batch out of the queue already
        XCTAssertGreaterThan(droppedCount, 0)
        try await waitUntil("an export and a retry of it to fail") { down.turnAway() >= 2 }
        down.stop()
        let second = try OTLPReceiver(port: port)
        await tracer.forceFlush()
        let names = try await second.received().flatMap { $0.spans ?? [] }.map(\.name)
        XCTAssertEqual(names.count, 25 - droppedCount)
        XCTAssertEqual(Set(names).count, names.count, "no span twice")
        await tracer.shutdown()
    }

    func testHungReceiverTimesOutAndTheCallerIsUnaffected() async throws {
        let receiver = try OTLPReceiver()
        try await receiver.script([["status": 200, "hang": 3]])
        var retry = RetryPolicy()
        retry.maxAttempts = 1
        let (tracer, registry) = pipeline(receiver, timeout: .milliseconds(500), retry: retry)
        let span = tracer.startSpan("slow-export")
        span.end()  // returns at once: export happens on the processor's task
        XCTAssertFalse(span.isRecording == false)
        await tracer.forceFlush()
        let text = registry.renderString()
        XCTAssertTrue(text.contains("vigil_spans_dropped_total{reason=\"export_failed\"} 1\n"), text)
        await tracer.shutdown()
    }

    func testCredentialsInTheURLAreRedactedFromErrors() async throws {
        let exporter = OTLPHTTPExporter(
            configuration: OTLPConfiguration(tracesEndpoint: "http://user:hunter2@127.0.0.1:1/v1/traces", retry: { var r = RetryPolicy(); r.maxAttempts = 1; return r }()),
            resource: TelemetryResource(attributes: []))
        let result = await exporter.export([])
        guard case .failure(let reason) = result else { return XCTFail("\(result)") }
        XCTAssertFalse(reason.contains("hunter2"), reason)
        XCTAssertTrue(reason.hasPrefix("POST http://REDACTED@127.0.0.1:1/v1/traces: "), reason)
        XCTAssertTrue(reason.contains("(curl error 7)"), reason)
        XCTAssertTrue(reason.hasSuffix("(1 attempt)"), reason)
        XCTAssertEqual(Redaction.url("https://a:b@host:8/p?q=1"), "https://REDACTED@host:8/p?q=1")
        XCTAssertEqual(Redaction.url("https://host/p@x"), "https://host/p@x")
    }
}
