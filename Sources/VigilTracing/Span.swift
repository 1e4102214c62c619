import VigilMetrics
import VigilSupport

/// What a span is for (OTLP `Span.SpanKind`).
public enum SpanKind: Int, Sendable {
    case `internal` = 1, server = 2, client = 3, producer = 4, consumer = 5
}

/// A span's outcome (OTLP `Status`).
public enum SpanStatus: Sendable, Equatable {
    case unset
    case ok
    case error(message: String)
}

/// An attribute value: a string, an integer, a double, a boolean, or an array of one of them.
public enum AttributeValue: Sendable, Equatable {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case stringArray([String])
    case intArray([Int64])
    case doubleArray([Double])
    case boolArray([Bool])
}

extension AttributeValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

/// A key and its value.
public struct Attribute: Sendable, Equatable {
    public var key: String
    public var value: AttributeValue

    public init(_ key: String, _ value: AttributeValue) {
        self.key = key
        self.value = value
    }
}

/// Something that happened at a point in a span's life.
public struct SpanEvent: Sendable, Equatable {
    public var name: String
    public var timeUnixNano: UInt64
    public var attributes: [Attribute]
    /// Attributes past `SpanLimits.attributesPerEvent`, left out.
    public var droppedAttributes: Int

    public init(name: String, timeUnixNano: UInt64, attributes: [Attribute] = [], droppedAttributes: Int = 0) {
        self.name = name
        self.timeUnixNano = timeUnixNano
        self.attributes = attributes
        self.droppedAttributes = droppedAttributes
    }
}

/// A pointer to a span in this or another trace.
public struct SpanLink: Sendable, Equatable {
    public var context: SpanContext
    public var attributes: [Attribute]
    /// Attributes past `SpanLimits.attributesPerLink`, left out.
    public var droppedAttributes: Int

    public init(_ context: SpanContext, attributes: [Attribute] = [], droppedAttributes: Int = 0) {
        self.context = context
        self.attributes = attributes
        self.droppedAttributes = droppedAttributes
    }
}

/// The most attributes, events and links one span keeps, past which they are counted as
/// dropped, and the longest attribute value: the OpenTelemetry SDKs' span limits, with their
/// defaults (`TracingEnvironment` reads them from `OTEL_SPAN_*_LIMIT`).
public struct SpanLimits: Sendable, Equatable {
    public var attributes = 128
    public var events = 128
    public var links = 128
    public var attributesPerEvent = 128
    public var attributesPerLink = 128
    /// String values (and each string of an array) longer than this many characters are
    /// truncated when the span is exported; nil: no limit.
    public var attributeValueLength: Int?

    public init() {}

    /// `value` cut to `attributeValueLength` characters.
    func truncated(_ value: AttributeValue) -> AttributeValue {
        guard let length = attributeValueLength else { return value }
        switch value {
        case .string(let s) where s.count > length: return .string(String(s.prefix(length)))
        case .stringArray(let a) where a.contains(where: { $0.count > length }):
            return .stringArray(a.map { $0.count > length ? String($0.prefix(length)) : $0 })
        default: return value
        }
    }

    /// `link` with at most `attributesPerLink` attributes, the rest counted as dropped.
    func limited(_ link: SpanLink) -> SpanLink {
        guard link.attributes.count > attributesPerLink else { return link }
        return SpanLink(link.context, attributes: Array(link.attributes.prefix(attributesPerLink)),
                        droppedAttributes: link.droppedAttributes + link.attributes.count - attributesPerLink)
    }

    /// `attributes` with their values truncated.
    func truncated(_ attributes: [Attribute]) -> [Attribute] {
        guard attributeValueLength != nil else { return attributes }
        return attributes.map { Attribute($0.key, truncated($0.value)) }
    }
}

/// Attributes a bridge keeps in its own type (the swift-distributed-tracing bridge keeps
/// `SpanAttributes`), so that setting them through the bridge costs no conversion, no copy and
/// no dynamic cast: a span holds one store, taken out while the bridge updates it in place, and
/// its attributes are turned into `Attribute`s only when the span is exported, after the span's
/// own, replacing any with the same key. Subclass it and override all three methods.
open class BridgedAttributeStore: @unchecked Sendable {
    public init() {}
    open var isEmpty: Bool { true }
    /// Adds `other`'s attributes, its values winning (another thread's store, put back while
    /// this one was taken out).
    open func merge(_ other: BridgedAttributeStore) {}
    open func forEachAttribute(_ body: (String, AttributeValue) -> Void) {}
}

/// One operation in a trace. Start it from a `Tracer`; set attributes, events and status while
/// it runs; `end()` it once. A second `end()` is ignored and counted.
///
/// A span that the sampler left out is not recording: it carries its context so that children
/// and outgoing requests stay in the trace, and everything else on it costs next to nothing.
///
/// Ending a span only stamps it and hands the span itself to the processor; its `SpanData` is
/// built when it is exported, off the thread that ended it.
public final class Span: @unchecked Sendable {
    public let context: SpanContext
    public let parentSpanID: SpanID?
    public let kind: SpanKind
    public let startTimeUnixNano: UInt64
    let tracer: Tracer?

    private let lock = SpinLock()
    private var _name: String
    private var attributes: [Attribute]
    private var droppedAttributes = 0
    private var bridged: BridgedAttributeStore?
    /// Events, links and status: most spans have none, and a span that has none pays for none.
    private var rest: Rest?
    private var endTimeUnixNano: UInt64 = 0
    private var ended = false

    private final class Rest {
        var events: [SpanEvent] = []
        var links: [SpanLink] = []
        var status = SpanStatus.unset
        var droppedEvents = 0
        var droppedLinks = 0
    }

    init(name: String, context: SpanContext, parentSpanID: SpanID?, kind: SpanKind, start: UInt64,
         attributes: [Attribute], links: [SpanLink], tracer: Tracer?) {
        self._name = name
        self.context = context
        self.parentSpanID = parentSpanID
        self.kind = kind
        self.startTimeUnixNano = start
        self.tracer = tracer
        guard let limits = tracer?.limits else {
            self.attributes = []
            return
        }
        // An array within the limit is kept as it is: copying it would allocate.
        if attributes.count > limits.attributes {
            self.attributes = Array(attributes.prefix(limits.attributes))
            droppedAttributes = attributes.count - limits.attributes
        } else {
            self.attributes = attributes
        }
        if !links.isEmpty {
            let rest = Rest()
            rest.links = links.prefix(limits.links).map(limits.limited)
            rest.droppedLinks = max(0, links.count - limits.links)
            self.rest = rest
        }
    }

    /// The events, links and status, made on first use. Under the lock.
    private var mutableRest: Rest {
        if let rest { return rest }
        let made = Rest()
        rest = made
        return made
    }

    /// Whether this span is recorded and will be exported.
    public var isRecording: Bool { tracer != nil }

    /// The span's name; it may be changed while the span runs.
    public var name: String {
        get { lock.withLock { _name } }
        set { lock.withLock { if !ended { _name = newValue } } }
    }

    /// Sets an attribute, replacing one with the same key.
    public func setAttribute(_ key: String, _ value: AttributeValue) {
        guard let tracer else { return }
        lock.withLock {
            guard !ended else { return }
            if let i = attributes.firstIndex(where: { $0.key == key }) {
                attributes[i].value = value
            } else if attributes.count < tracer.limits.attributes {
                attributes.append(Attribute(key, value))
            } else {
                droppedAttributes += 1
            }
        }
    }

    /// The span's own attributes, without bridged ones (bridges).
    public var ownAttributes: [Attribute] { lock.withLock { attributes } }

    /// The bridged attribute store, for reading (bridges); nil if there is none.
    public var bridgedAttributes: BridgedAttributeStore? { lock.withLock { bridged } }

    /// Takes the bridged attribute store out of the span for the caller to update without the
    /// span's lock, leaving none; hand it back with `putBridgedAttributes`. Meanwhile readers
    /// see none. Nil for a span that is not recording or has ended.
    public func takeBridgedAttributes() -> BridgedAttributeStore? {
        guard tracer != nil else { return nil }
        return lock.withLock {
            if ended { return nil }
            defer { bridged = nil }
            return bridged
        }
    }

    /// Stores the bridged attribute store, merged into any another thread stored since it was
    /// taken. Ignored once the span has ended, or when it is not recording.
    public func putBridgedAttributes(_ store: BridgedAttributeStore) {
        guard tracer != nil else { return }
        lock.withLock {
            guard !ended else { return }
            if let existing = bridged, existing !== store, !existing.isEmpty {
                existing.merge(store)
            } else {
                bridged = store
            }
        }
    }

    /// Records an event, now or at `timeUnixNano`.
    public func addEvent(_ name: String, attributes: [Attribute] = [], timeUnixNano: UInt64? = nil) {
        guard let tracer else { return }
        let kept = tracer.limits.attributesPerEvent
        let event = SpanEvent(name: name, timeUnixNano: timeUnixNano ?? SystemClock.wallNanoseconds(),
                              attributes: Array(attributes.prefix(kept)), droppedAttributes: max(0, attributes.count - kept))
        lock.withLock {
            guard !ended else { return }
            let rest = mutableRest
            if rest.events.count < tracer.limits.events { rest.events.append(event) } else { rest.droppedEvents += 1 }
        }
    }

    /// Records an error as an `exception` event (OpenTelemetry semantic conventions) and marks
    /// the span's status as an error unless `setStatus` says otherwise.
    public func recordError(_ error: any Error, type: String? = nil) {
        addEvent("exception", attributes: [
            Attribute("exception.type", .string(type ?? String(reflecting: Swift.type(of: error)))),
            Attribute("exception.message", .string(String(describing: error))),
        ])
        setStatus(.error(message: String(describing: error)))
    }

    /// Sets the status. `ok` is final; `unset` never replaces another status.
    public func setStatus(_ newStatus: SpanStatus) {
        guard tracer != nil, newStatus != .unset else { return }
        lock.withLock {
            guard !ended else { return }
            let rest = mutableRest
            if rest.status != .ok { rest.status = newStatus }
        }
    }

    public func addLink(_ link: SpanLink) {
        guard let tracer else { return }
        let link = tracer.limits.limited(link)
        lock.withLock {
            guard !ended else { return }
            let rest = mutableRest
            if rest.links.count < tracer.limits.links { rest.links.append(link) } else { rest.droppedLinks += 1 }
        }
    }

    /// Ends the span, now or at `timeUnixNano`, and hands it to the processor. Later calls are
    /// ignored and counted in `vigil_span_end_errors_total`.
    public func end(timeUnixNano: UInt64? = nil) {
        guard let tracer else { return }
        let end = timeUnixNano ?? SystemClock.wallNanoseconds()
        let first: Bool = lock.withLock {
            guard !ended else { return false }
            ended = true
            endTimeUnixNano = max(end, startTimeUnixNano)
            return true
        }
        guard first else { return tracer.recordDoubleEnd() }
        tracer.processor.onEnd(self)
    }

    /// Whether `end()` was called.
    public var hasEnded: Bool { lock.withLock { ended } }

    /// The span's data as it stands: what exporters get once it has ended. Bridged attributes
    /// follow the span's own, within the attribute limit; those past it count as dropped.
    public var snapshot: SpanData {
        // Read without retaining the tracer: the batch worker calls this for every span, and a
        // retain here would bounce the tracer's reference count between its core and the one
        // that makes the spans.
        let limits = withExtendedLifetime(self) {
            tracer.map { Unmanaged.passUnretained($0)._withUnsafeGuaranteedRef { $0.limits } } ?? SpanLimits()
        }
        let limit = limits.attributes
        return lock.withLock {
            var all = attributes
            var droppedAttributes = droppedAttributes
            if let bridged, !bridged.isEmpty {
                bridged.forEachAttribute { key, value in
                    if let i = all.firstIndex(where: { $0.key == key }) {
                        all[i].value = value
                    } else if all.count < limit {
                        all.append(Attribute(key, value))
                    } else {
                        droppedAttributes += 1
                    }
                }
            }
            var events = rest?.events ?? []
            var links = rest?.links ?? []
            if limits.attributeValueLength != nil {
                all = limits.truncated(all)
                for i in events.indices { events[i].attributes = limits.truncated(events[i].attributes) }
                for i in links.indices { links[i].attributes = limits.truncated(links[i].attributes) }
            }
            return SpanData(
                name: _name, context: context, parentSpanID: parentSpanID, kind: kind,
                startTimeUnixNano: startTimeUnixNano, endTimeUnixNano: endTimeUnixNano,
                attributes: all, events: events, links: links, status: rest?.status ?? .unset,
                droppedAttributes: droppedAttributes, droppedEvents: rest?.droppedEvents ?? 0,
                droppedLinks: rest?.droppedLinks ?? 0)
        }
    }

    /// The span of the current task, set by `Tracer.withSpan`.
    @TaskLocal public static var current: Span?
}

/// An ended span, as exporters see it.
public struct SpanData: Sendable, Equatable {
    public var name: String
    public var context: SpanContext
    public var parentSpanID: SpanID?
    public var kind: SpanKind
    public var startTimeUnixNano: UInt64
    public var endTimeUnixNano: UInt64
    public var attributes: [Attribute]
    public var events: [SpanEvent]
    public var links: [SpanLink]
    public var status: SpanStatus
    public var droppedAttributes: Int
    public var droppedEvents: Int
    public var droppedLinks: Int
}
