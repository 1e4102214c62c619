import Tracing
import VigilTracing

/// A swift-distributed-tracing `Tracer` backed by Vigil: code instrumented with `withSpan`
/// and `InstrumentationSystem.bootstrap(VigilTracer(tracer))` lands in Vigil's span trees and
/// exports. Its own module, so that hosts without swift-distributed-tracing never build it.
public struct VigilTracer: Tracing.Tracer {
    public let tracer: VigilTracing.Tracer

    public init(_ tracer: VigilTracing.Tracer) {
        self.tracer = tracer
    }

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: Tracing.SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> BridgedSpan {
        var serviceContext = context()
        // The parent: a span started through this bridge, else the task's Vigil span, else none.
        let parent: ParentContext = serviceContext.vigilSpanContext.map { .context($0) } ?? .current
        let span = tracer.startSpan(operationName, kind: kind.vigilKind, parent: parent, startTimeUnixNano: instant().nanosecondsSinceEpoch)
        serviceContext.vigilSpanContext = span.context
        return BridgedSpan(span: span, context: serviceContext)
    }

    public func forceFlush() {
        let tracer = self.tracer
        Task { await tracer.forceFlush() }
    }

    /// Flushes and waits, unlike the protocol's fire-and-forget `forceFlush()`.
    public func flush() async {
        await tracer.forceFlush()
    }

    public func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        if let remote = W3CTraceContext.extract(from: carrier, get: { extractor.extract(key: $1, from: $0) }) {
            context.vigilSpanContext = remote
        }
    }

    public func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let spanContext = context.vigilSpanContext else { return }
        W3CTraceContext.inject(spanContext, into: &carrier) { carrier, key, value in injector.inject(value, forKey: key, into: &carrier) }
    }
}

/// A Vigil span seen through swift-distributed-tracing's `Span` protocol.
public struct BridgedSpan: Tracing.Span {
    public let span: VigilTracing.Span
    public let context: ServiceContext

    public var operationName: String {
        get { span.name }
        nonmutating set { span.name = newValue }
    }

    public var isRecording: Bool { span.isRecording }

    public var attributes: SpanAttributes {
        get {
            var attributes = SpanAttributes()
            for attribute in span.snapshot.attributes { attributes[attribute.key] = attribute.value.spanAttribute }
            return attributes
        }
        nonmutating set {
            newValue.forEach { key, value in span.setAttribute(key, AttributeValue(value)) }
        }
    }

    public func setStatus(_ status: Tracing.SpanStatus) {
        switch status.code {
        case .ok: span.setStatus(.ok)
        case .error: span.setStatus(.error(message: status.message ?? ""))
        }
    }

    public func addEvent(_ event: Tracing.SpanEvent) {
        var attributes: [Attribute] = []
        event.attributes.forEach { attributes.append(Attribute($0, AttributeValue($1))) }
        span.addEvent(event.name, attributes: attributes, timeUnixNano: event.nanosecondsSinceEpoch)
    }

    public func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {
        span.recordError(error)
    }

    public func addLink(_ link: Tracing.SpanLink) {
        guard let other = link.context.vigilSpanContext else { return }
        var attributes: [Attribute] = []
        link.attributes.forEach { attributes.append(Attribute($0, AttributeValue($1))) }
        span.addLink(VigilTracing.SpanLink(other, attributes: attributes))
    }

    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        span.end(timeUnixNano: instant().nanosecondsSinceEpoch)
    }
}

private enum VigilSpanContextKey: ServiceContextKey {
    typealias Value = SpanContext
    static var nameOverride: String? { "vigil-span-context" }
}

extension ServiceContext {
    /// The Vigil span context carried in a service context.
    public var vigilSpanContext: SpanContext? {
        get { self[VigilSpanContextKey.self] }
        set { self[VigilSpanContextKey.self] = newValue }
    }
}

extension Tracing.SpanKind {
    var vigilKind: VigilTracing.SpanKind {
        switch self {
        case .server: .server
        case .client: .client
        case .producer: .producer
        case .consumer: .consumer
        default: .internal
        }
    }
}

extension AttributeValue {
    init(_ attribute: SpanAttribute) {
        switch attribute {
        case .int32(let v): self = .int(Int64(v))
        case .int64(let v): self = .int(v)
        case .int32Array(let v): self = .intArray(v.map(Int64.init))
        case .int64Array(let v): self = .intArray(v)
        case .double(let v): self = .double(v)
        case .doubleArray(let v): self = .doubleArray(v)
        case .bool(let v): self = .bool(v)
        case .boolArray(let v): self = .boolArray(v)
        case .string(let v): self = .string(v)
        case .stringArray(let v): self = .stringArray(v)
        case .stringConvertible(let v): self = .string(v.description)
        case .stringConvertibleArray(let v): self = .stringArray(v.map(\.description))
        default: self = .string(String(describing: attribute))
        }
    }

    var spanAttribute: SpanAttribute {
        switch self {
        case .string(let v): .string(v)
        case .int(let v): .int64(v)
        case .double(let v): .double(v)
        case .bool(let v): .bool(v)
        case .stringArray(let v): .stringArray(v)
        case .intArray(let v): .int64Array(v)
        case .doubleArray(let v): .doubleArray(v)
        case .boolArray(let v): .boolArray(v)
        }
    }
}
