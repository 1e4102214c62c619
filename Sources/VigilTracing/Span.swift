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

    public init(name: String, timeUnixNano: UInt64, attributes: [Attribute] = []) {
        self.name = name
        self.timeUnixNano = timeUnixNano
        self.attributes = attributes
    }
}

/// A pointer to a span in this or another trace.
public struct SpanLink: Sendable, Equatable {
    public var context: SpanContext
    public var attributes: [Attribute]

    public init(_ context: SpanContext, attributes: [Attribute] = []) {
        self.context = context
        self.attributes = attributes
    }
}

/// The most attributes, events and links one span keeps; past these they are counted as
/// dropped, as the OpenTelemetry SDKs' default span limits do.
public struct SpanLimits: Sendable, Equatable {
    public var attributes = 128
    public var events = 128
    public var links = 128
    public var attributesPerEvent = 128

    public init() {}
}

/// One operation in a trace. Start it from a `Tracer`; set attributes, events and status while
/// it runs; `end()` it once. A second `end()` is ignored and counted.
///
/// A span that the sampler left out is not recording: it carries its context so that children
/// and outgoing requests stay in the trace, and everything else on it costs next to nothing.
public final class Span: @unchecked Sendable {
    public let context: SpanContext
    public let parentSpanID: SpanID?
    public let kind: SpanKind
    public let startTimeUnixNano: UInt64
    let tracer: Tracer?

    private let lock = SpinLock()
    private var _name: String
    private var attributes: [Attribute]
    private var events: [SpanEvent] = []
    private var links: [SpanLink]
    private var status = SpanStatus.unset
    private var dropped = (attributes: 0, events: 0, links: 0)
    private var endTimeUnixNano: UInt64 = 0
    private var ended = false

    init(name: String, context: SpanContext, parentSpanID: SpanID?, kind: SpanKind, start: UInt64,
         attributes: [Attribute], links: [SpanLink], tracer: Tracer?) {
        self._name = name
        self.context = context
        self.parentSpanID = parentSpanID
        self.kind = kind
        self.startTimeUnixNano = start
        self.tracer = tracer
        let limits = tracer?.limits ?? SpanLimits()
        // Arrays within the limits are kept as they are: copying them would allocate.
        self.attributes = attributes.count <= limits.attributes ? attributes : Array(attributes.prefix(limits.attributes))
        self.links = links.count <= limits.links ? links : Array(links.prefix(limits.links))
        dropped.attributes = max(0, attributes.count - limits.attributes)
        dropped.links = max(0, links.count - limits.links)
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
                dropped.attributes += 1
            }
        }
    }

    /// Records an event, now or at `timeUnixNano`.
    public func addEvent(_ name: String, attributes: [Attribute] = [], timeUnixNano: UInt64? = nil) {
        guard let tracer else { return }
        let event = SpanEvent(name: name, timeUnixNano: timeUnixNano ?? SystemClock.wallNanoseconds(),
                              attributes: Array(attributes.prefix(tracer.limits.attributesPerEvent)))
        lock.withLock {
            guard !ended else { return }
            if events.count < tracer.limits.events { events.append(event) } else { dropped.events += 1 }
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
        guard tracer != nil else { return }
        lock.withLock {
            guard !ended, status != .ok, newStatus != .unset else { return }
            status = newStatus
        }
    }

    public func addLink(_ link: SpanLink) {
        guard let tracer else { return }
        lock.withLock {
            guard !ended else { return }
            if links.count < tracer.limits.links { links.append(link) } else { dropped.links += 1 }
        }
    }

    /// Ends the span, now or at `timeUnixNano`, and hands it to the processor. Later calls are
    /// ignored and counted in `vigil_span_end_errors_total`.
    public func end(timeUnixNano: UInt64? = nil) {
        guard let tracer else { return }
        let end = timeUnixNano ?? SystemClock.wallNanoseconds()
        let data: SpanData? = lock.withLock {
            guard !ended else { return nil }
            ended = true
            endTimeUnixNano = max(end, startTimeUnixNano)
            return SpanData(
                name: _name, context: context, parentSpanID: parentSpanID, kind: kind,
                startTimeUnixNano: startTimeUnixNano, endTimeUnixNano: endTimeUnixNano,
                attributes: attributes, events: events, links: links, status: status,
                droppedAttributes: dropped.attributes, droppedEvents: dropped.events, droppedLinks: dropped.links)
        }
        guard let data else { return tracer.recordDoubleEnd() }
        tracer.processor.onEnd(data)
    }

    /// The span's data as it stands; for tests and processors.
    public var snapshot: SpanData {
        lock.withLock {
            SpanData(
                name: _name, context: context, parentSpanID: parentSpanID, kind: kind,
                startTimeUnixNano: startTimeUnixNano, endTimeUnixNano: endTimeUnixNano,
                attributes: attributes, events: events, links: links, status: status,
                droppedAttributes: dropped.attributes, droppedEvents: dropped.events, droppedLinks: dropped.links)
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
