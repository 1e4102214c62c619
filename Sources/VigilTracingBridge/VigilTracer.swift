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
        let serviceContext = context()
        // The parent: a span started through this bridge, else a context extracted from a
        // request, else the task's Vigil span, else none.
        let parent: ParentContext = switch serviceContext[VigilParentKey.self] {
        case .span(let span): .context(span.context)
        case .remote(let remote): .context(remote.context)
        case nil: .current
        }
        let span = tracer.startSpan(operationName, kind: kind.vigilKind, parent: parent, startTimeUnixNano: instant().nanosecondsSinceEpoch)
        return BridgedSpan(span: span, parentContext: serviceContext)
    }

    public func forceFlush() {
        let tracer = self.tracer
        Task { await tracer.forceFlush() }
    }

    /// Flushes and waits, unlike the protocol's fire-and-forget `forceFlush()`.
    public func flush() async {
        await tracer.forceFlush()
    }

    /// Reads the headers of `OTEL_PROPAGATORS` (the tracer's `propagation`): `traceparent` and
    /// `tracestate` into the context's parent span context, `baggage` into `w3cBaggage`.
    public func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        let (remote, baggage) = tracer.extract(from: carrier) { extractor.extract(key: $1, from: $0) }
        if let remote { context.vigilSpanContext = remote }
        if !baggage.isEmpty { context.w3cBaggage = baggage }
    }

    /// Writes the context's span context and `w3cBaggage` with the headers of `OTEL_PROPAGATORS`.
    public func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        tracer.inject(context.vigilSpanContext, baggage: context.w3cBaggage ?? Baggage(), into: &carrier) { carrier, key, value in
            injector.inject(value, forKey: key, into: &carrier)
        }
    }
}

/// A Vigil span seen through swift-distributed-tracing's `Span` protocol.
public struct BridgedSpan: Tracing.Span {
    public let span: VigilTracing.Span
    /// The context the span was started in.
    let parentContext: ServiceContext

    init(span: VigilTracing.Span, parentContext: ServiceContext) {
        self.span = span
        self.parentContext = parentContext
    }

    /// The context to run the span's work in: the one it was started in, carrying the span
    /// itself (a reference, so storing it needs no box). Made when asked for (`withSpan` asks
    /// once), so that a span that is only started, given attributes and ended never pays for
    /// the context's dictionary write.
    public var context: ServiceContext {
        var context = parentContext
        context[VigilParentKey.self] = .span(span)
        return context
    }

    public var operationName: String {
        get { span.name }
        nonmutating set { span.name = newValue }
    }

    public var isRecording: Bool { span.isRecording }

    /// Attributes set here are kept as `SpanAttributes` inside the Vigil span and converted
    /// only when the span is exported. `span.attributes[key] = value` updates them in place.
    public var attributes: SpanAttributes {
        get {
            let bridged = (span.bridgedAttributes as? SpanAttributesStore)?.attributes ?? [:]
            let own = span.ownAttributes
            guard !own.isEmpty else { return bridged }
            var all: SpanAttributes = [:]
            for attribute in own { all[attribute.key] = attribute.value.spanAttribute }
            all.merge(bridged)
            return all
        }
        nonmutating set {
            let store = takeStore()
            store.attributes = newValue
            span.putBridgedAttributes(store)
        }
        // Kept this small, and with one path, so that its coroutine frame fits the caller's
        // buffer: a larger one is allocated on every `span.attributes[key] = value`.
        nonmutating _modify {
            let store = takeStore()
            defer { span.putBridgedAttributes(store) }
            yield &store.attributes
        }
    }

    /// The span's store, taken out of it, or a new one. What is set in a store taken from a span
    /// that is not recording, or has ended, goes nowhere: `putBridgedAttributes` ignores it.
    private func takeStore() -> SpanAttributesStore {
        if let taken = span.takeBridgedAttributes() as? SpanAttributesStore { return taken }
        return SpanAttributesStore(reserving: span.isRecording ? 4 : 0)
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

/// The parent of spans started through the bridge: the span started through it, carried in the
/// service context of its children, or a span context extracted from a request. One key, so that
/// starting a span costs one lookup; both cases are references, so storing one needs no box.
private enum VigilParentKey: ServiceContextKey {
    enum Value {
        case span(VigilTracing.Span)
        case remote(RemoteParent)
    }
    static var nameOverride: String? { "vigil-parent" }
}

/// A span context that came from another process (`extract`).
private final class RemoteParent: Sendable {
    let context: SpanContext
    init(_ context: SpanContext) { self.context = context }
}

extension ServiceContext {
    /// The Vigil span context carried in a service context: the span started through the
    /// bridge, else one extracted from a request. Setting it replaces both.
    public var vigilSpanContext: SpanContext? {
        get {
            switch self[VigilParentKey.self] {
            case .span(let span): span.context
            case .remote(let remote): remote.context
            case nil: nil
            }
        }
        set { self[VigilParentKey.self] = newValue.map { .remote(RemoteParent($0)) } }
    }
}

/// W3C Baggage carried in a service context.
private enum VigilBaggageKey: ServiceContextKey {
    typealias Value = Baggage
    static var nameOverride: String? { "w3c-baggage" }
}

extension ServiceContext {
    /// W3C Baggage that travels with the context: what `extract` read from a request's `baggage`
    /// header, and what `inject` writes into outgoing requests (with the `baggage` propagator).
    public var w3cBaggage: Baggage? {
        get { self[VigilBaggageKey.self] }
        set { self[VigilBaggageKey.self] = newValue }
    }
}

/// The `SpanAttributes` set through the bridge, kept in the Vigil span as they are.
final class SpanAttributesStore: BridgedAttributeStore, @unchecked Sendable {
    /// Updated only by whoever took the store out of its span.
    @exclusivity(unchecked) var attributes: SpanAttributes

    /// - Parameter capacity: room for this many, so that setting them one by one does not grow
    ///   the table each time.
    init(reserving capacity: Int) {
        attributes = SpanAttributes()
        if capacity > 0 { attributes.reserveCapacity(capacity) }
    }

    override var isEmpty: Bool { attributes.isEmpty }

    override func merge(_ other: BridgedAttributeStore) {
        guard let other = other as? SpanAttributesStore else { return }
        attributes.merge(other.attributes)
    }

    override func forEachAttribute(_ body: (String, AttributeValue) -> Void) {
        attributes.forEach { key, value in body(key, AttributeValue(value)) }
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
