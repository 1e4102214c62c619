import VigilContract
import VigilTracing

/// The instrumentation scope Vigil reports its spans under.
public struct InstrumentationScope: Sendable, Equatable {
    /// `InstrumentationScope.name`.
    public var name: String
    /// `InstrumentationScope.version`.
    public var version: String

    /// Vigil itself, at this version, by default.
    public init(name: String = "vigil", version: String = VigilVersion.current) {
        self.name = name
        self.version = version
    }
}

/// Encodes `ExportTraceServiceRequest` (opentelemetry-proto, collector/trace/v1) as protobuf.
/// Field numbers are cited from trace.proto, resource.proto and common.proto.
public enum OTLPProtobuf {
    /// One request holding `spans`, all under `resource` and `scope`.
    public static func encode(_ spans: [SpanData], resource: TelemetryResource, scope: InstrumentationScope = InstrumentationScope()) -> [UInt8] {
        OTLPEnvelope.protobuf(capacity: 256 + spans.count * 192, resource: resource, scope: scope) { w in
            for span in spans { w.message(2) { encodeSpan(&$0, span) } }  // ScopeSpans.spans = 2
        }
    }

    static func encodeSpan(_ w: inout ProtobufWriter, _ span: SpanData) {
        w.idField(1, span.context.traceID.high, span.context.traceID.low)  // trace_id = 1
        w.idField(2, span.context.spanID.value)  // span_id = 2
        w.string(3, span.context.traceState.description)  // trace_state = 3
        if let parent = span.parentSpanID { w.idField(4, parent.value) }  // parent_span_id = 4
        w.string(5, span.name, always: true)  // name = 5
        w.uint(6, UInt64(span.kind.rawValue))  // kind = 6
        w.fixed64(7, span.startTimeUnixNano)  // start_time_unix_nano = 7
        w.fixed64(8, span.endTimeUnixNano)  // end_time_unix_nano = 8
        for attribute in span.attributes { w.message(9) { keyValue(&$0, attribute) } }  // attributes = 9
        w.uint(10, UInt64(span.droppedAttributes))  // dropped_attributes_count = 10
        for event in span.events {  // events = 11
            w.message(11) { w in
                w.fixed64(1, event.timeUnixNano)  // Event.time_unix_nano = 1
                w.string(2, event.name)  // Event.name = 2
                for attribute in event.attributes { w.message(3) { keyValue(&$0, attribute) } }  // Event.attributes = 3
                w.uint(4, UInt64(event.droppedAttributes))  // Event.dropped_attributes_count = 4
            }
        }
        w.uint(12, UInt64(span.droppedEvents))  // dropped_events_count = 12
        for link in span.links {  // links = 13
            w.message(13) { w in
                w.idField(1, link.context.traceID.high, link.context.traceID.low)  // Link.trace_id = 1
                w.idField(2, link.context.spanID.value)  // Link.span_id = 2
                w.string(3, link.context.traceState.description)  // Link.trace_state = 3
                for attribute in link.attributes { w.message(4) { keyValue(&$0, attribute) } }  // Link.attributes = 4
                w.uint(5, UInt64(link.droppedAttributes))  // Link.dropped_attributes_count = 5
                w.fixed32(6, linkFlags(link.context))  // Link.flags = 6
            }
        }
        w.uint(14, UInt64(span.droppedLinks))  // dropped_links_count = 14
        switch span.status {  // status = 15 → Status.message = 2, code = 3
        case .unset: break
        case .ok: w.message(15) { $0.uint(3, 1) }
        case .error(let message):
            w.message(15) { w in
                w.string(2, message)
                w.uint(3, 2)
            }
        }
        w.fixed32(16, UInt32(span.context.traceFlags))  // flags = 16: the W3C trace flags
    }

    /// Trace flags, and whether the link points into another process (SpanFlags, trace.proto).
    static func linkFlags(_ context: SpanContext) -> UInt32 {
        UInt32(context.traceFlags) | 0x100 | (context.isRemote ? 0x200 : 0)
    }

    /// KeyValue.key = 1, KeyValue.value = 2 → AnyValue.
    static func keyValue(_ w: inout ProtobufWriter, _ attribute: Attribute) {
        w.string(1, attribute.key, always: true)
        w.message(2) { anyValue(&$0, attribute.value) }
    }

    /// AnyValue is a oneof: the chosen field is written even when it holds its default.
    static func anyValue(_ w: inout ProtobufWriter, _ value: AttributeValue) {
        func array(_ body: (inout ProtobufWriter) -> Void) { w.message(5) { w in body(&w) } }  // array_value = 5
        switch value {
        case .string(let s): w.string(1, s, always: true)  // string_value = 1
        case .bool(let b): w.uint(2, b ? 1 : 0, always: true)  // bool_value = 2
        case .int(let i): w.int64(3, i)  // int_value = 3
        case .double(let d): w.double(4, d)  // double_value = 4
        // ArrayValue.values = 1, each an AnyValue.
        case .stringArray(let values): array { w in for v in values { w.message(1) { $0.string(1, v, always: true) } } }
        case .boolArray(let values): array { w in for v in values { w.message(1) { $0.uint(2, v ? 1 : 0, always: true) } } }
        case .intArray(let values): array { w in for v in values { w.message(1) { $0.int64(3, v) } } }
        case .doubleArray(let values): array { w in for v in values { w.message(1) { $0.double(4, v) } } }
        }
    }
}

/// Encodes `ExportTraceServiceRequest` as OTLP/JSON: the protobuf JSON mapping with OTLP's
/// exceptions (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding): ids as hex
/// strings, lowerCamelCase keys, enums as integers, 64-bit integers as decimal strings.
public enum OTLPJSON {
    /// One request holding `spans`, all under `resource` and `scope`, on one line.
    public static func encode(_ spans: [SpanData], resource: TelemetryResource, scope: InstrumentationScope = InstrumentationScope()) -> [UInt8] {
        OTLPEnvelope.json(kind: "Spans", itemsKey: "spans", resource: resource, scope: scope) { $0.list(spans, encodeSpan) }
    }

    static func encodeSpan(_ out: inout JSONWriter, _ span: SpanData) {
        ids(&out, span.context)
        if let parent = span.parentSpanID { out.raw(",\"parentSpanId\":\"\(parent)\"") }
        out.raw(",\"flags\":\(span.context.traceFlags),\"name\":")
        out.string(span.name)
        out.raw(",\"kind\":\(span.kind.rawValue),\"startTimeUnixNano\":\"\(span.startTimeUnixNano)\",\"endTimeUnixNano\":\"\(span.endTimeUnixNano)\",\"attributes\":")
        out.attributes(span.attributes)
        if span.droppedAttributes > 0 { out.raw(",\"droppedAttributesCount\":\(span.droppedAttributes)") }
        out.raw(",\"events\":")
        out.list(span.events) { out, event in
            out.raw("{\"timeUnixNano\":\"\(event.timeUnixNano)\",\"name\":")
            out.string(event.name)
            out.raw(",\"attributes\":")
            out.attributes(event.attributes)
            if event.droppedAttributes > 0 { out.raw(",\"droppedAttributesCount\":\(event.droppedAttributes)") }
            out.raw("}")
        }
        if span.droppedEvents > 0 { out.raw(",\"droppedEventsCount\":\(span.droppedEvents)") }
        out.raw(",\"links\":")
        out.list(span.links) { out, link in
            ids(&out, link.context)
            out.raw(",\"attributes\":")
            out.attributes(link.attributes)
            if link.droppedAttributes > 0 { out.raw(",\"droppedAttributesCount\":\(link.droppedAttributes)") }
            out.raw(",\"flags\":\(OTLPProtobuf.linkFlags(link.context))}")
        }
        if span.droppedLinks > 0 { out.raw(",\"droppedLinksCount\":\(span.droppedLinks)") }
        switch span.status {
        case .unset: out.raw(",\"status\":{}")
        case .ok: out.raw(",\"status\":{\"code\":1}")
        case .error(let message):
            out.raw(",\"status\":{\"message\":")
            out.string(message)
            out.raw(",\"code\":2}")
        }
        out.raw("}")
    }

    /// Opens a Span or a Link object with its `traceId`, `spanId` and (when set) `traceState`.
    static func ids(_ out: inout JSONWriter, _ context: SpanContext) {
        out.raw("{\"traceId\":\"\(context.traceID)\",\"spanId\":\"\(context.spanID)\"")
        if !context.traceState.members.isEmpty {
            out.raw(",\"traceState\":")
            out.string(context.traceState.description)
        }
    }
}
