import VigilContract
import VigilMetrics
import VigilSupport
import VigilTracing

/// Lets a host error name its `error_type` label instead of its Swift type name. Keep the set of
/// values small: it becomes a label.
public protocol ClassifiedError: Error {
    var errorType: String { get }
}

/// Counts, times and traces phase executions: `VigilMetric.phaseExecutions`, `.phaseErrors`
/// (by error type), `.phaseDuration` (bucket exemplars name the span) and `.phaseInFlight`.
///
/// A host that loads and unloads plugins tells the observer: `load(plugin:version:)` publishes
/// `VigilMetric.pluginInfo` and `.pluginStartTime`, and `unload(plugin:)` takes every series of
/// the plugin out of the next scrape (an observed phase the host still holds keeps working,
/// unexported; observe the plugin again after loading it again).
public final class PluginObserver: Sendable {
    public let registry: Registry
    /// Spans are made when a tracer is given.
    public let tracer: Tracer?
    let executions: CounterFamily
    let errors: CounterFamily
    let duration: HistogramFamily
    let inFlight: GaugeFamily
    let info: GaugeFamily
    let startTime: GaugeFamily
    /// The series of each (plugin, phase) observed by name.
    let byName = PhaseSeriesCache()

    /// - Parameter buckets: the duration histogram's bounds, in seconds.
    public init(registry: Registry, tracer: Tracer? = nil, buckets: [Double] = Histogram.defaultBuckets) throws(RegistrationError) {
        self.registry = registry
        self.tracer = tracer
        executions = try registry.register(VigilMetric.phaseExecutions)
        errors = try registry.register(VigilMetric.phaseErrors)
        duration = try registry.register(VigilMetric.phaseDuration.withBuckets(buckets))
        inFlight = try registry.register(VigilMetric.phaseInFlight)
        info = try registry.register(VigilMetric.pluginInfo)
        startTime = try registry.register(VigilMetric.pluginStartTime)
    }

    /// Records that `plugin` is loaded, in `version`, from now on: `vigil_plugin_info` is 1 and
    /// `vigil_plugin_start_time_seconds` is now. Loading it again (an upgrade) replaces both.
    public func load(plugin: String, version: String = "") {
        info.removeAll(matching: ["plugin": plugin])
        info.labels(plugin, version).set(1)
        startTime.labels(plugin).setToCurrentTime()
    }

    /// Takes every series of `plugin` this observer made (executions, errors, durations, in
    /// flight, info, start time) out of the next scrape; returns how many went.
    @discardableResult
    public func unload(plugin: String) -> Int {
        let match = ["plugin": plugin]
        // Under the by-name cache's lock, so that no by-name observe caches the series taken here.
        return byName.removeAll(plugin: plugin) {
            executions.removeAll(matching: match) + errors.removeAll(matching: match) + duration.removeAll(matching: match)
                + inFlight.removeAll(matching: match) + info.removeAll(matching: match) + startTime.removeAll(matching: match)
        }
    }

    /// The series of one phase, looked up once. A class: passing it costs one reference, where a
    /// struct of seven would cost seven retains and releases on every execution.
    public final class PhaseSeries: Sendable {
        @usableFromInline let plugin: String
        @usableFromInline let phase: String
        @usableFromInline let executions: Counter
        @usableFromInline let duration: Histogram
        @usableFromInline let inFlight: Gauge
        @usableFromInline let errors: CounterFamily
        /// The span attributes of every execution, built once.
        @usableFromInline let attributes: [Attribute]
        /// The key of this entry in the by-name cache.
        let cacheHash: UInt64

        init(plugin: String, phase: String, observer: PluginObserver) {
            self.plugin = plugin
            self.phase = phase
            executions = observer.executions.labels(plugin, phase)
            duration = observer.duration.labels(plugin, phase)
            inFlight = observer.inFlight.labels(plugin, phase)
            errors = observer.errors
            // An execution is counted, and leaves the in-flight gauge, when the histogram observes
            // its duration: two atomic adds fewer for each.
            executions.countObservations(of: duration)
            inFlight.subtractObservations(of: duration)
            attributes = [Attribute("vigil.plugin", .string(plugin)), Attribute("vigil.phase", .string(phase))]
            cacheHash = PhaseSeriesCache.hash(plugin, phase)
        }
    }

    public func series(plugin: String, phase: String) -> PhaseSeries {
        PhaseSeries(plugin: plugin, phase: phase, observer: self)
    }

    /// The series of `phase` of `plugin` from the by-name cache: one lock-free lookup once the
    /// pair has been seen, made afresh after `unload(plugin:)`.
    @inline(__always)
    func cachedSeries(plugin: String, phase: String) -> PhaseSeries {
        byName.series(plugin: plugin, phase: phase) { PhaseSeries(plugin: plugin, phase: phase, observer: self) }
    }

    /// Runs `body` as an execution of `phase` of `plugin`: counted, timed, traced (a span named
    /// after the phase, the child of the current span) and, if it throws, counted by error type.
    /// Cancellation is recorded as such: neither an error nor a failed span.
    public func observe<T>(plugin: String, phase: String, _ body: () async throws -> T) async throws -> T {
        try await observe(cachedSeries(plugin: plugin, phase: phase), body)
    }

    /// `observe` for synchronous code.
    public func observe<T>(plugin: String, phase: String, _ body: () throws -> T) throws -> T {
        let s = cachedSeries(plugin: plugin, phase: phase)
        let execution = begin(s)
        defer { finish(s, execution) }
        guard let span = execution.span else {
            do { return try body() } catch {
                failed(s, error, span: nil)
                throw error
            }
        }
        do {
            return try Span.$current.withValue(span) { try body() }
        } catch {
            failed(s, error, span: span)
            throw error
        }
    }

    @inlinable
    func observe<T>(_ s: PhaseSeries, _ body: () async throws -> T) async throws -> T {
        let execution = begin(s)
        defer { finish(s, execution) }
        guard let span = execution.span else {
            do { return try await body() } catch {
                failed(s, error, span: nil)
                throw error
            }
        }
        do {
            return try await Span.$current.withValue(span) { try await body() }
        } catch {
            failed(s, error, span: span)
            throw error
        }
    }

    /// One execution under way: when it started, on the monotonic clock, and its span.
    @usableFromInline
    struct Execution {
        @usableFromInline let start: UInt64
        @usableFromInline let span: Span?

        @usableFromInline
        init(start: UInt64, span: Span?) {
            self.start = start
            self.span = span
        }
    }

    /// Counts the execution in flight and starts its clock and span. The clock is read once at
    /// each end: the span's timestamps are the same readings on the wall clock
    /// (`SystemClock.wallNanoseconds(atMonotonic:)`), so span and histogram agree exactly.
    @inlinable
    @inline(__always)
    func begin(_ s: PhaseSeries) -> Execution {
        s.inFlight.inc()
        let start = SystemClock.monotonicNanoseconds()
        guard let tracer else { return Execution(start: start, span: nil) }
        let span = tracer.startSpan(s.phase, attributes: s.attributes,
                                    startTimeUnixNano: SystemClock.wallNanoseconds(atMonotonic: start))
        return Execution(start: start, span: span)
    }

    @usableFromInline
    func failed(_ s: PhaseSeries, _ error: any Error, span: Span?) {
        if error is CancellationError {
            span?.addEvent("cancelled")
            return
        }
        let type = (error as? ClassifiedError)?.errorType ?? String(describing: Swift.type(of: error))
        s.errors.labels(s.plugin, s.phase, type).inc()
        span?.recordError(error, type: type)
    }

    @inlinable
    func finish(_ s: PhaseSeries, _ execution: Execution) {
        let end = SystemClock.monotonicNanoseconds()
        let elapsed = Int64(truncatingIfNeeded: end &- execution.start)
        // The observation also counts the execution and takes it out of the in-flight gauge.
        if let span = execution.span, span.isRecording {
            let context = span.context
            let endTime = SystemClock.wallNanoseconds(atMonotonic: end)
            s.duration.observe(nanoseconds: elapsed, traceIDHigh: context.traceID.high, traceIDLow: context.traceID.low,
                               spanID: context.spanID.value, timeUnixNano: endTime)
            span.end(timeUnixNano: endTime)
        } else {
            s.duration.observe(nanoseconds: elapsed)
        }
    }
}

/// A phase whose executions are counted, timed and traced. A composite phase (a chain) is
/// observed phase by phase: each of its phases gets its own series and span, never the chain
/// as a whole.
public struct ObservedPhase<Wrapped: Phase>: Phase {
    public let wrapped: Wrapped
    /// One phase: its series, looked up once. Nil for a composite phase.
    @usableFromInline let series: PluginObserver.PhaseSeries?
    /// A composite phase rebuilt with each of its phases observed; nil for one phase.
    @usableFromInline let each: AnyPhase<Wrapped.Input, Wrapped.Output>?
    @usableFromInline let observer: PluginObserver

    init(_ wrapped: Wrapped, plugin: String, observer: PluginObserver) {
        self.wrapped = wrapped
        self.observer = observer
        if wrapped is any CompositePhase {
            self.each = ObservingWrapper(plugin: plugin, observer: observer).wrapEach(wrapped)
            self.series = nil
        } else {
            self.each = nil
            self.series = observer.series(plugin: plugin, phase: wrapped.name)
        }
    }

    public var name: String { wrapped.name }

    // Hot path: `observe` written out, so that without tracing the wrapped phase is called
    // directly rather than through a closure (an async closure costs a context of its own).
    @inlinable
    public func execute(_ input: Wrapped.Input) async throws -> Wrapped.Output {
        if let each { return try await each.execute(input) }
        let s = series.unsafelyUnwrapped
        let execution = observer.begin(s)
        defer { observer.finish(s, execution) }
        guard let span = execution.span else {
            do { return try await wrapped.execute(input) } catch {
                observer.failed(s, error, span: nil)
                throw error
            }
        }
        do {
            return try await Span.$current.withValue(span) { try await wrapped.execute(input) }
        } catch {
            observer.failed(s, error, span: span)
            throw error
        }
    }
}

/// Observes one phase; composite phases are rebuilt around it by `PhaseWrapper.wrapEach`.
struct ObservingWrapper: PhaseWrapper {
    let plugin: String
    let observer: PluginObserver

    func wrap<P: Phase>(_ phase: P) -> AnyPhase<P.Input, P.Output> {
        let series = observer.series(plugin: plugin, phase: phase.name)
        let observer = self.observer
        return AnyPhase(name: phase.name) { input in try await observer.observe(series) { try await phase.execute(input) } }
    }
}

extension Phase {
    /// This phase counted, timed and traced under `plugin`; a chain is observed phase by phase.
    public func observed(plugin: String, by observer: PluginObserver) -> ObservedPhase<Self> {
        ObservedPhase(self, plugin: plugin, observer: observer)
    }
}
