import VigilContract
import VigilMetrics
import VigilSupport

/// Where a new span's parent comes from.
public enum ParentContext: Sendable {
    /// The span of the current task (`Span.current`), if any. The default.
    case current
    /// No parent: the span starts a new trace.
    case none
    /// This context, for code that runs outside the task that holds the parent (event loops)
    /// or that received it from another process.
    case context(SpanContext)
}

/// Starts spans and hands ended ones to a processor.
///
/// What is not given explicitly comes from the OpenTelemetry environment
/// (`TracingEnvironment.current`: `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_SPAN_*_LIMIT`,
/// `OTEL_PROPAGATORS`); with `OTEL_SDK_DISABLED=true` no span records and nothing is exported.
public final class Tracer: Sendable {
    public let resource: TelemetryResource
    public let sampler: Sampler
    public let limits: SpanLimits
    /// The headers `inject` and `extract` use (`OTEL_PROPAGATORS`).
    public let propagation: Propagation
    /// False under `OTEL_SDK_DISABLED=true`: every span is a non-recording one.
    public let isEnabled: Bool
    let processor: any SpanProcessor
    private let endErrors: Counter?

    /// - Parameters:
    ///   - sampler: nil for the environment's (`OTEL_TRACES_SAMPLER`), by default `parentbased_always_on`.
    ///   - limits: nil for the environment's (`OTEL_SPAN_*_LIMIT`), by default the specification's.
    ///   - processor: receives every ended, sampled span (a `BatchSpanProcessor` to export).
    ///   - registry: where the tracer's self-metrics go (`vigil_span_end_errors_total`).
    ///   - environment: the OpenTelemetry variables; this process's by default.
    public init(resource: TelemetryResource, sampler: Sampler? = nil, limits: SpanLimits? = nil,
                processor: any SpanProcessor, registry: Registry? = nil, environment: TracingEnvironment = .current) {
        self.resource = resource
        self.sampler = sampler ?? environment.sampler
        self.limits = limits ?? environment.limits
        self.propagation = Propagation(propagators: environment.propagators)
        self.isEnabled = !environment.disabled
        self.processor = processor
        self.endErrors = try? registry?.register(VigilMetric.spanEndErrors).labels()
    }

    /// Writes `context` and `baggage` into an outgoing request with the configured propagators.
    public func inject<Carrier>(_ context: SpanContext?, baggage: Baggage = Baggage(), into carrier: inout Carrier,
                                set: (inout Carrier, String, String) -> Void) {
        propagation.inject(context, baggage: baggage, into: &carrier, set: set)
    }

    /// Reads the span context and baggage of an incoming request with the configured propagators.
    public func extract<Carrier>(from carrier: Carrier, get: (Carrier, String) -> String?) -> (context: SpanContext?, baggage: Baggage) {
        propagation.extract(from: carrier, get: get)
    }

    /// Starts a span. It is not the current span of any task until you run code in
    /// `withSpan`; end it with `end()`.
    public func startSpan(
        _ name: String, kind: SpanKind = .internal, parent: ParentContext = .current,
        attributes: [Attribute] = [], links: [SpanLink] = [], startTimeUnixNano: UInt64? = nil
    ) -> Span {
        let parentContext: SpanContext? = switch parent {
        case .current: Span.current?.context
        case .none: nil
        case .context(let context): context.isValid ? context : nil
        }
        let traceID: TraceID
        let spanID: SpanID
        if let parentContext {
            traceID = parentContext.traceID
            spanID = SpanID.random()
        } else {
            (traceID, spanID) = IDGenerator.nextTraceAndSpan()
        }
        let sampled = isEnabled && sampler.shouldSample(traceID: traceID, parent: parentContext)
        var flags = parentContext?.traceFlags ?? 0
        flags = sampled ? flags | 1 : flags & ~1
        let context = SpanContext(
            traceID: traceID, spanID: spanID, traceFlags: flags,
            traceState: parentContext?.traceState ?? TraceState(), isRemote: false)
        return Span(
            name: name, context: context, parentSpanID: parentContext?.spanID, kind: kind,
            start: startTimeUnixNano ?? SystemClock.wallNanoseconds(), attributes: sampled ? attributes : [],
            links: sampled ? links : [], tracer: sampled ? self : nil)
    }

    /// Runs `body` in a new span that is the current span of the task (and of its child tasks)
    /// meanwhile. A thrown error marks the span as an error and is rethrown; cancellation is
    /// recorded as a `cancelled` event, not as an error.
    public func withSpan<T>(
        _ name: String, kind: SpanKind = .internal, parent: ParentContext = .current, attributes: [Attribute] = [],
        _ body: (Span) async throws -> T
    ) async rethrows -> T {
        let span = startSpan(name, kind: kind, parent: parent, attributes: attributes)
        defer { span.end() }
        do {
            return try await Span.$current.withValue(span) { try await body(span) }
        } catch {
            Self.record(error, on: span)
            throw error
        }
    }

    /// `withSpan` for synchronous code.
    public func withSpan<T>(
        _ name: String, kind: SpanKind = .internal, parent: ParentContext = .current, attributes: [Attribute] = [],
        _ body: (Span) throws -> T
    ) rethrows -> T {
        let span = startSpan(name, kind: kind, parent: parent, attributes: attributes)
        defer { span.end() }
        do {
            return try Span.$current.withValue(span) { try body(span) }
        } catch {
            Self.record(error, on: span)
            throw error
        }
    }

    static func record(_ error: any Error, on span: Span) {
        if error is CancellationError {
            span.addEvent("cancelled")
        } else {
            span.recordError(error)
        }
    }

    func recordDoubleEnd() {
        endErrors?.inc()
    }

    /// Exports every ended span now; returns when they are delivered or given up on.
    public func forceFlush() async {
        await processor.forceFlush()
    }

    /// Flushes and stops the processor within `deadline`.
    public func shutdown(deadline: Duration = .seconds(30)) async {
        await processor.shutdown(deadline: deadline)
    }
}

/// What produced the telemetry: `service.name` and the rest (OpenTelemetry Resource).
public struct TelemetryResource: Sendable, Equatable {
    public var attributes: [Attribute]

    public init(attributes: [Attribute]) {
        self.attributes = attributes
    }

    /// The resource of this process. Each key appears once; a later source replaces an earlier
    /// one's value:
    /// 1. defaults: `service.name` (`serviceName`), `service.version`, `service.instance.id` (a
    ///    UUID generated once per process), `host.name`, `process.pid`, `telemetry.sdk.*`;
    /// 2. `configured` (vigil.yml's `resource_attributes`, a host's own);
    /// 3. `OTEL_RESOURCE_ATTRIBUTES` (`key=value` pairs, comma-separated, values percent-encoded);
    /// 4. `OTEL_SERVICE_NAME`, for `service.name`.
    public static func detect(
        serviceName: String, serviceVersion: String? = nil, attributes configured: [(String, String)] = [],
        environment: [String: String] = ProcessEnvironment.all
    ) -> TelemetryResource {
        var attributes: [Attribute] = []
        func put(_ key: String, _ value: AttributeValue) {
            if let i = attributes.firstIndex(where: { $0.key == key }) { attributes[i].value = value } else { attributes.append(Attribute(key, value)) }
        }
        put("service.name", .string(serviceName))
        if let serviceVersion { put("service.version", .string(serviceVersion)) }
        put("service.instance.id", .string(ProcessEnvironment.instanceID))
        if let host = ProcessEnvironment.hostName() { put("host.name", .string(host)) }
        put("process.pid", .int(Int64(ProcessEnvironment.pid)))
        put("telemetry.sdk.name", "vigil")
        put("telemetry.sdk.language", "swift")
        for (key, value) in configured where !key.isEmpty { put(key, .string(value)) }
        for pair in (environment["OTEL_RESOURCE_ATTRIBUTES"] ?? "").split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = String(parts[0].trimmed())
            guard !key.isEmpty else { continue }
            put(key, .string(parts[1].trimmed().percentDecoded))
        }
        if let name = environment["OTEL_SERVICE_NAME"], !name.isEmpty { put("service.name", .string(name)) }
        return TelemetryResource(attributes: attributes)
    }

    public subscript(key: String) -> AttributeValue? {
        attributes.first { $0.key == key }?.value
    }
}
