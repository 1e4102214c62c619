import VigilMetrics
import VigilTestSupport
import XCTest
@testable import VigilTracing

/// Each OpenTelemetry variable that applies to traces: how it is read, and what it does.
final class TracingEnvironmentTests: XCTestCase {
    func tracer(_ environment: [String: String], exporter: InMemorySpanExporter) -> Tracer {
        var config = BatchSpanProcessor.Configuration()
        config.maxQueueSize = 1 << 16
        config.scheduleDelay = .milliseconds(10)
        return Tracer(resource: TelemetryResource(attributes: []), processor: BatchSpanProcessor(exporter: exporter, configuration: config),
                      environment: TracingEnvironment(environment))
    }

    // MARK: OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG

    func testEverySamplerTheSpecificationListsIsRead() {
        let expected: [String: Sampler] = [
            "always_on": .alwaysOn, "always_off": .alwaysOff, "traceidratio": .traceIDRatio(0.5),
            "parentbased_always_on": .parentBased(root: .alwaysOn), "parentbased_always_off": .parentBased(root: .alwaysOff),
            "parentbased_traceidratio": .parentBased(root: .traceIDRatio(0.5)), "PARENTBASED_ALWAYS_OFF": .parentBased(root: .alwaysOff),
        ]
        for (name, sampler) in expected {
            let environment = TracingEnvironment(["OTEL_TRACES_SAMPLER": name, "OTEL_TRACES_SAMPLER_ARG": "0.5"])
            XCTAssertEqual(environment.sampler, sampler, name)
            XCTAssertEqual(environment.warnings, [], name)
        }
        XCTAssertEqual(TracingEnvironment([:]).sampler, .parentBased(root: .alwaysOn), "the specification's default")
        XCTAssertEqual(TracingEnvironment(["OTEL_TRACES_SAMPLER": "traceidratio"]).sampler, .traceIDRatio(1), "no argument: 1.0")
    }

    func testUnsupportedAndUnknownSamplersWarnAndFallBackToTheDefault() {
        for name in ["jaeger_remote", "parentbased_jaeger_remote", "xray"] {
            let environment = TracingEnvironment(["OTEL_TRACES_SAMPLER": name])
            XCTAssertEqual(environment.sampler, .parentBased(root: .alwaysOn), name)
            XCTAssertEqual(environment.warnings.count, 1, name)
            XCTAssertTrue(environment.warnings[0].contains("\(name) is not supported"), environment.warnings[0])
        }
        let bogus = TracingEnvironment(["OTEL_TRACES_SAMPLER": "sometimes"])
        XCTAssertEqual(bogus.sampler, .default)
        XCTAssertTrue(bogus.warnings.first?.contains("sometimes is not a sampler") ?? false, "\(bogus.warnings)")
    }

    func testAnInvalidRatioWarnsAndUsesOne() {
        for arg in ["abc", "1.5", "-0.1", ""] {
            let environment = TracingEnvironment(["OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": arg])
            XCTAssertEqual(environment.sampler, .parentBased(root: .traceIDRatio(1)), arg)
            XCTAssertEqual(environment.warnings.count, arg.isEmpty ? 0 : 1, arg)
        }
    }

    func testAlwaysOffExportsNothingAndARatioOfAQuarterExportsAboutAQuarter() async {
        let off = InMemorySpanExporter()
        let offTracer = tracer(["OTEL_TRACES_SAMPLER": "always_off"], exporter: off)
        for _ in 0..<100 { offTracer.startSpan("root").end() }
        await offTracer.forceFlush()
        XCTAssertEqual(off.spans.count, 0)

        let quarter = InMemorySpanExporter()
        let quarterTracer = tracer(["OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"], exporter: quarter)
        let roots = 8000
        for _ in 0..<roots { quarterTracer.startSpan("root").end() }
        await quarterTracer.forceFlush()
        // Binomial(8000, 0.25): mean 2000, standard deviation 38.7; ±300 is beyond 7 deviations.
        XCTAssertEqual(Double(quarter.spans.count), 2000, accuracy: 300)
    }

    // MARK: OTEL_SDK_DISABLED

    func testSDKDisabledMakesEverySpanNonRecordingEvenWithAnExplicitSampler() async {
        XCTAssertTrue(TracingEnvironment(["OTEL_SDK_DISABLED": "true"]).disabled)
        XCTAssertTrue(TracingEnvironment(["OTEL_SDK_DISABLED": "TRUE"]).disabled)
        XCTAssertFalse(TracingEnvironment(["OTEL_SDK_DISABLED": "false"]).disabled)
        let yes = TracingEnvironment(["OTEL_SDK_DISABLED": "yes"])
        XCTAssertFalse(yes.disabled)
        XCTAssertEqual(yes.warnings.count, 1)

        let exporter = InMemorySpanExporter()
        let config = BatchSpanProcessor.Configuration()
        let tracer = Tracer(resource: TelemetryResource(attributes: []), sampler: .alwaysOn,
                            processor: BatchSpanProcessor(exporter: exporter, configuration: config),
                            environment: TracingEnvironment(["OTEL_SDK_DISABLED": "true"]))
        XCTAssertFalse(tracer.isEnabled)
        tracer.withSpan("root") { span in
            XCTAssertFalse(span.isRecording)
            XCTAssertTrue(span.context.isValid, "contexts still propagate")
        }
        await tracer.forceFlush()
        XCTAssertEqual(exporter.spans.count, 0)
    }

    // MARK: OTEL_PROPAGATORS

    func testPropagatorsAreReadAsACommaListAndUnknownOnesAreIgnoredWithAWarning() {
        XCTAssertEqual(TracingEnvironment([:]).propagators, [.traceContext, .baggage])
        XCTAssertEqual(TracingEnvironment(["OTEL_PROPAGATORS": "tracecontext"]).propagators, [.traceContext])
        XCTAssertEqual(TracingEnvironment(["OTEL_PROPAGATORS": " baggage "]).propagators, [.baggage])
        XCTAssertEqual(TracingEnvironment(["OTEL_PROPAGATORS": "none"]).propagators, [])
        XCTAssertEqual(TracingEnvironment(["OTEL_PROPAGATORS": "baggage, tracecontext"]).propagators, [.traceContext, .baggage])
        let b3 = TracingEnvironment(["OTEL_PROPAGATORS": "b3,tracecontext,foo"])
        XCTAssertEqual(b3.propagators, [.traceContext])
        XCTAssertEqual(b3.warnings.count, 2, "\(b3.warnings)")
        XCTAssertTrue(b3.warnings[0].contains("b3 is not supported"))
    }

    func testPropagationWritesAndReadsOnlyTheChosenHeaders() {
        let context = SpanContext(traceID: .random(), spanID: .random())
        var baggage = Baggage()
        baggage.set("tenant", "acme")
        func headers(_ propagators: Propagators) -> [String: String] {
            var carrier: [String: String] = [:]
            Propagation(propagators: propagators).inject(context, baggage: baggage, into: &carrier) { $0[$1] = $2 }
            return carrier
        }
        XCTAssertEqual(Set(headers(.default).keys), ["traceparent", "baggage"])
        XCTAssertEqual(Set(headers(.traceContext).keys), ["traceparent"])
        XCTAssertEqual(Set(headers(.baggage).keys), ["baggage"])
        XCTAssertEqual(headers([]), [:])

        let incoming = headers(.default)
        let both = Propagation(propagators: .default).extract(from: incoming) { $0[$1] }
        XCTAssertEqual(both.context?.traceID, context.traceID)
        XCTAssertEqual(both.baggage["tenant"], "acme")
        let traceOnly = Propagation(propagators: .traceContext).extract(from: incoming) { $0[$1] }
        XCTAssertNotNil(traceOnly.context)
        XCTAssertTrue(traceOnly.baggage.isEmpty)
        let none = Propagation(propagators: []).extract(from: incoming) { $0[$1] }
        XCTAssertNil(none.context)
        XCTAssertTrue(none.baggage.isEmpty)
    }

    // MARK: OTEL_SPAN_*_LIMIT

    func testLimitsAreReadWithTheirFallbacksAndInvalidValuesWarn() {
        let defaults = TracingEnvironment([:]).limits
        XCTAssertEqual([defaults.attributes, defaults.events, defaults.links, defaults.attributesPerEvent, defaults.attributesPerLink],
                       [128, 128, 128, 128, 128])
        XCTAssertNil(defaults.attributeValueLength)
        let set = TracingEnvironment([
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "5", "OTEL_SPAN_EVENT_COUNT_LIMIT": "6", "OTEL_SPAN_LINK_COUNT_LIMIT": "7",
            "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT": "8", "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT": "9", "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "10",
            "OTEL_ATTRIBUTE_COUNT_LIMIT": "99", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "99",
        ]).limits
        XCTAssertEqual([set.attributes, set.events, set.links, set.attributesPerEvent, set.attributesPerLink, set.attributeValueLength],
                       [5, 6, 7, 8, 9, 10], "the span-specific variables win over the general ones")
        let general = TracingEnvironment(["OTEL_ATTRIBUTE_COUNT_LIMIT": "3", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "4"]).limits
        XCTAssertEqual(general.attributes, 3)
        XCTAssertEqual(general.attributeValueLength, 4)
        let bad = TracingEnvironment(["OTEL_SPAN_EVENT_COUNT_LIMIT": "-1", "OTEL_SPAN_LINK_COUNT_LIMIT": "many"])
        XCTAssertEqual(bad.limits.events, 128)
        XCTAssertEqual(bad.limits.links, 128)
        XCTAssertEqual(bad.warnings.count, 2)
    }

    func testLimitsDropAndTruncateAndTheDroppedAreCounted() async throws {
        let exporter = InMemorySpanExporter()
        let tracer = tracer([
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "2", "OTEL_SPAN_EVENT_COUNT_LIMIT": "1", "OTEL_SPAN_LINK_COUNT_LIMIT": "1",
            "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT": "1", "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT": "1", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "3",
        ], exporter: exporter)
        let other = SpanContext(traceID: .random(), spanID: .random())
        let span = tracer.startSpan("limited", attributes: [Attribute("a", "abcdef"), Attribute("b", .stringArray(["xy", "wxyz"]))],
                                    links: [SpanLink(other, attributes: [Attribute("l1", 1), Attribute("l2", 2)]), SpanLink(other)])
        span.setAttribute("c", 3)
        span.addEvent("first", attributes: [Attribute("e1", 1), Attribute("e2", 2)])
        span.addEvent("second")
        span.end()
        await tracer.forceFlush()
        let data = try XCTUnwrap(exporter.spans.first)
        XCTAssertEqual(data.attributes, [Attribute("a", "abc"), Attribute("b", .stringArray(["xy", "wxy"]))])
        XCTAssertEqual(data.droppedAttributes, 1)
        XCTAssertEqual(data.events.map(\.name), ["first"])
        XCTAssertEqual(data.droppedEvents, 1)
        XCTAssertEqual(data.events[0].attributes.count, 1)
        XCTAssertEqual(data.events[0].droppedAttributes, 1)
        XCTAssertEqual(data.links.count, 1)
        XCTAssertEqual(data.droppedLinks, 1)
        XCTAssertEqual(data.links[0].attributes, [Attribute("l1", 1)])
        XCTAssertEqual(data.links[0].droppedAttributes, 1)
    }

    // MARK: Resource: service.instance.id and precedence

    func testTheResourceHasEachKeyOnceWithTheDocumentedPrecedence() {
        let configured = [("deployment.environment", "file"), ("team", "file"), ("service.name", "from-file")]
        let fileOnly = TelemetryResource.detect(serviceName: "svc", attributes: configured, environment: [:])
        XCTAssertEqual(fileOnly["deployment.environment"], "file")
        XCTAssertEqual(fileOnly["service.name"], "from-file", "the file wins over the defaults")

        let env = TelemetryResource.detect(serviceName: "svc", attributes: configured, environment: [
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=env,region=eu%2Dwest,service.name=from-attributes",
            "OTEL_SERVICE_NAME": "from-service-name",
        ])
        XCTAssertEqual(env["deployment.environment"], "env", "OTEL_RESOURCE_ATTRIBUTES wins over the file")
        XCTAssertEqual(env["team"], "file")
        XCTAssertEqual(env["region"], "eu-west")
        XCTAssertEqual(env["service.name"], "from-service-name", "OTEL_SERVICE_NAME wins over everything")
        let keys = env.attributes.map(\.key)
        XCTAssertEqual(keys.count, Set(keys).count, "no key twice: \(keys)")
    }

    func testServiceInstanceIDIsAUUIDMadeOncePerProcessUnlessSet() throws {
        let a = TelemetryResource.detect(serviceName: "a", environment: [:])
        let b = TelemetryResource.detect(serviceName: "b", environment: [:])
        guard case .string(let id) = try XCTUnwrap(a["service.instance.id"]) else { return XCTFail("not a string") }
        XCTAssertEqual(b["service.instance.id"], .string(id), "one per process")
        let groups = id.split(separator: "-").map(\.count)
        XCTAssertEqual(groups, [8, 4, 4, 4, 12], id)
        XCTAssertEqual(Array(id.utf8)[14], UInt8(ascii: "4"), "version 4")
        XCTAssertTrue(id.allSatisfy { $0.isHexDigit || $0 == "-" } && id == id.lowercased(), id)
        let set = TelemetryResource.detect(serviceName: "a", environment: ["OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=pod-7"])
        XCTAssertEqual(set["service.instance.id"], "pod-7")
        let configured = TelemetryResource.detect(serviceName: "a", attributes: [("service.instance.id", "host-3")], environment: [:])
        XCTAssertEqual(configured["service.instance.id"], "host-3")
    }
}
