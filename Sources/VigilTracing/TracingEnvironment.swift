/// The OpenTelemetry SDK environment variables that apply to traces, read as the
/// specification defines them (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/):
///
/// - `OTEL_SDK_DISABLED=true`: the tracer makes no recording span and exports nothing.
/// - `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`: every sampler the specification lists;
///   `jaeger_remote`, `parentbased_jaeger_remote` and `xray` are not supported and fall back
///   to the default, `parentbased_always_on`, with a warning.
/// - `OTEL_PROPAGATORS`: `tracecontext`, `baggage`, `none` (default `tracecontext,baggage`).
/// - `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, `OTEL_SPAN_EVENT_COUNT_LIMIT`, `OTEL_SPAN_LINK_COUNT_LIMIT`,
///   `OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`, `OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`,
///   `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT` (defaults 128, 128, 128, 128, 128, no limit), with
///   `OTEL_ATTRIBUTE_COUNT_LIMIT` and `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT` as fallbacks for the
///   span attribute limits.
///
/// A value that does not parse keeps the default and adds a line to `warnings`, which says
/// which variable, what it held and what was used instead.
public struct TracingEnvironment: Sendable, Equatable {
    public var disabled = false
    public var sampler = Sampler.default
    public var propagators = Propagators.default
    public var limits = SpanLimits()
    public var warnings: [String] = []

    /// The defaults, as if no variable were set.
    public init() {}

    public init(_ environment: [String: String]) {
        readDisabled(environment)
        readSampler(environment)
        readPropagators(environment)
        readLimits(environment)
    }

    /// This process's environment, read once; its warnings are written to standard error
    /// once, since the library has no logger of its own. The sidecar reads its environment
    /// with `init(_:)` and logs the warnings instead.
    public static let current: TracingEnvironment = {
        let environment = TracingEnvironment(ProcessEnvironment.all)
        for warning in environment.warnings { ProcessEnvironment.writeToStandardError("vigil: \(warning)\n") }
        return environment
    }()

    private mutating func readDisabled(_ environment: [String: String]) {
        guard let raw = environment["OTEL_SDK_DISABLED"]?.trimmed(), !raw.isEmpty else { return }
        switch raw.lowercased() {
        case "true": disabled = true
        case "false": disabled = false
        default: warnings.append("OTEL_SDK_DISABLED=\(raw) is neither true nor false; tracing stays enabled")
        }
    }

    private mutating func readSampler(_ environment: [String: String]) {
        let name = environment["OTEL_TRACES_SAMPLER"]?.trimmed().lowercased() ?? ""
        let rawArg = environment["OTEL_TRACES_SAMPLER_ARG"]?.trimmed() ?? ""
        func ratio() -> Double {
            guard !rawArg.isEmpty else { return 1 }
            guard let value = Double(rawArg), value >= 0, value <= 1 else {
                warnings.append("OTEL_TRACES_SAMPLER_ARG=\(rawArg) is not a probability between 0 and 1; using 1.0")
                return 1
            }
            return value
        }
        switch name {
        case "": sampler = .default
        case "always_on": sampler = .alwaysOn
        case "always_off": sampler = .alwaysOff
        case "traceidratio": sampler = .traceIDRatio(ratio())
        case "parentbased_always_on": sampler = .parentBased(root: .alwaysOn)
        case "parentbased_always_off": sampler = .parentBased(root: .alwaysOff)
        case "parentbased_traceidratio": sampler = .parentBased(root: .traceIDRatio(ratio()))
        case "jaeger_remote", "parentbased_jaeger_remote", "xray":
            warnings.append("OTEL_TRACES_SAMPLER=\(name) is not supported by Vigil; using parentbased_always_on")
        default:
            warnings.append("""
                OTEL_TRACES_SAMPLER=\(name) is not a sampler (always_on, always_off, traceidratio, parentbased_always_on, \
                parentbased_always_off, parentbased_traceidratio); using parentbased_always_on
                """)
        }
    }

    private mutating func readPropagators(_ environment: [String: String]) {
        guard let raw = environment["OTEL_PROPAGATORS"], !raw.trimmed().isEmpty else { return }
        var chosen = Propagators()
        var sawNone = false
        for name in raw.split(separator: ",").map({ $0.trimmed().lowercased() }) where !name.isEmpty {
            switch name {
            case "tracecontext": chosen.insert(.traceContext)
            case "baggage": chosen.insert(.baggage)
            case "none": sawNone = true
            case "b3", "b3multi", "jaeger", "xray", "ottrace":
                warnings.append("OTEL_PROPAGATORS: \(name) is not supported by Vigil; ignored")
            default:
                warnings.append("OTEL_PROPAGATORS: \(name) is not a propagator (tracecontext, baggage, none); ignored")
            }
        }
        if sawNone && !chosen.isEmpty {
            warnings.append("OTEL_PROPAGATORS lists none beside other propagators; none is ignored")
        }
        propagators = chosen
    }

    private mutating func readLimits(_ environment: [String: String]) {
        func limit(_ names: String..., default value: Int) -> Int {
            for name in names {
                guard let raw = environment[name]?.trimmed(), !raw.isEmpty else { continue }
                guard let parsed = Int(raw), parsed >= 0 else {
                    warnings.append("\(name)=\(raw) is not a non-negative integer; using \(value)")
                    return value
                }
                return parsed
            }
            return value
        }
        limits.attributes = limit("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT", default: 128)
        limits.events = limit("OTEL_SPAN_EVENT_COUNT_LIMIT", default: 128)
        limits.links = limit("OTEL_SPAN_LINK_COUNT_LIMIT", default: 128)
        limits.attributesPerEvent = limit("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", default: 128)
        limits.attributesPerLink = limit("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", default: 128)
        let length = limit("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", default: -1)
        limits.attributeValueLength = length >= 0 ? length : nil
    }
}

/// Which headers `Propagation` reads and writes.
public struct Propagators: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// `traceparent` and `tracestate` (W3C Trace Context).
    public static let traceContext = Propagators(rawValue: 1)
    /// `baggage` (W3C Baggage).
    public static let baggage = Propagators(rawValue: 2)
    /// The specification's default, `tracecontext,baggage`.
    public static let `default`: Propagators = [.traceContext, .baggage]
}

/// Puts a span context and baggage into outgoing requests and takes them out of incoming
/// ones, with the propagators chosen (`OTEL_PROPAGATORS`). Carriers are anything with a way
/// to set and get a header: header names are lowercase, and `get` should match them
/// case-insensitively.
public struct Propagation: Sendable, Equatable {
    public var propagators: Propagators

    public init(propagators: Propagators = TracingEnvironment.current.propagators) {
        self.propagators = propagators
    }

    public func inject<Carrier>(_ context: SpanContext?, baggage: Baggage = Baggage(), into carrier: inout Carrier,
                                set: (inout Carrier, String, String) -> Void) {
        if propagators.contains(.traceContext), let context {
            W3CTraceContext.inject(context, into: &carrier, set: set)
        }
        if propagators.contains(.baggage) {
            W3CBaggage.inject(baggage, into: &carrier, set: set)
        }
    }

    public func extract<Carrier>(from carrier: Carrier, get: (Carrier, String) -> String?) -> (context: SpanContext?, baggage: Baggage) {
        let context = propagators.contains(.traceContext) ? W3CTraceContext.extract(from: carrier, get: get) : nil
        let baggage = propagators.contains(.baggage) ? W3CBaggage.extract(from: carrier, get: get) : Baggage()
        return (context, baggage)
    }
}
