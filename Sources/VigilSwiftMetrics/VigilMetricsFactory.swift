import CoreMetrics
import VigilMetrics

/// A swift-metrics backend that records into a Vigil registry, so that everything a host
/// already measures through swift-metrics lands in the same `/metrics`.
///
/// Labels become Prometheus names (`http.requests` → `http_requests`), dimensions become labels
/// (sorted by name, so that their order does not matter). Counters and floating counters are
/// counters (`_total`), meters are gauges, recorders are gauges or, when aggregating,
/// histograms, and timers are histograms in seconds (`_seconds`). A metric the registry
/// refuses (a name already used with other labels) is not a crash: its samples go nowhere and
/// `vigil_metric_errors_total{reason="registration_conflict"}` counts it.
///
/// Making a handler for a label and dimensions already made is one lock-free lookup, keyed by
/// them exactly as given; the handler is the Vigil series itself.
///
/// `destroy*` removes the handler's series from the next scrape (if no newer series replaced it);
/// another handler for the same label and dimensions keeps recording, unexported, until it is
/// made again, which makes a fresh series. So does a make after the series was removed by other
/// means (`Registry.removeSeries(matching:)`).
///
/// `reset()` of a counter is ignored: Prometheus counters only go up, and a scraper treats a
/// counter that went down as a restart.
public struct VigilMetricsFactory: MetricsFactory {
    public let registry: Registry
    /// Bounds of aggregating recorders and of timers (seconds).
    public let buckets: [Double]

    /// The series made so far, by label and dimensions as the caller gave them.
    private let cache = HandleCache()

    public init(registry: Registry, buckets: [Double] = VigilMetrics.Histogram.defaultBuckets) {
        self.registry = registry
        self.buckets = buckets
    }

    /// A valid Prometheus name from a swift-metrics label: invalid characters become `_`, a
    /// leading digit gets a `_` before it.
    public static func sanitize(_ label: String, allowColon: Bool = true) -> String {
        var out = ""
        for (i, ch) in label.unicodeScalars.enumerated() {
            let ok = (ch >= "a" && ch <= "z") || (ch >= "A" && ch <= "Z") || ch == "_" || (allowColon && ch == ":") || (i > 0 && ch >= "0" && ch <= "9")
            if !ok, i == 0, ch >= "0" && ch <= "9" { out.append("_") }
            out.append(ok || (ch >= "0" && ch <= "9") ? Character(ch) : "_")
        }
        if out.isEmpty { return "_" }
        while out.hasPrefix("__") { out.removeFirst() }
        return out
    }

    private func labels(_ dimensions: [(String, String)]) -> (names: [String], values: [String]) {
        var merged: [String: String] = [:]
        for (key, value) in dimensions { merged[Self.sanitize(key, allowColon: false)] = value }
        let names = merged.keys.sorted()
        return (names, names.map { merged[$0]! })
    }

    private func help(_ label: String) -> String { "swift-metrics \(label)" }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> CounterHandler {
        counter(label: label, dimensions: dimensions)
    }

    /// Floating-point counters share the integer counters' families: a Vigil counter keeps both.
    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> FloatingPointCounterHandler {
        counter(label: label, dimensions: dimensions)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> MeterHandler {
        gauge(label: label, dimensions: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> RecorderHandler {
        guard aggregate else { return gauge(label: label, dimensions: dimensions) }
        if let hit = cache.find(kind: Kind.histogram, label: label, dimensions: dimensions) {
            return unsafeDowncast(hit, to: VigilMetrics.Histogram.self)
        }
        let (names, values) = labels(dimensions)
        return handler(label, dimensions, kind: Kind.histogram, values: values) {
            try registry.histogram(Self.sanitize(label), help: help(label), labelNames: names, buckets: buckets)
        }
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> TimerHandler {
        if let hit = cache.find(kind: Kind.timer, label: label, dimensions: dimensions) {
            return unsafeDowncast(hit, to: VigilMetrics.Histogram.self)
        }
        let (names, values) = labels(dimensions)
        var name = Self.sanitize(label)
        if !name.hasSuffix("_seconds") { name += "_seconds" }
        return handler(label, dimensions, kind: Kind.timer, values: values) {
            try registry.histogram(name, help: help(label), unit: "seconds", labelNames: names, buckets: buckets)
        }
    }

    public func destroyCounter(_ handler: CounterHandler) { destroy(handler) }
    public func destroyMeter(_ handler: MeterHandler) { destroy(handler) }
    public func destroyFloatingPointCounter(_ handler: FloatingPointCounterHandler) { destroy(handler) }
    public func destroyRecorder(_ handler: RecorderHandler) { destroy(handler) }
    public func destroyTimer(_ handler: TimerHandler) { destroy(handler) }

    // MARK: Making handlers

    /// The cache's keys: the handler kinds that differ for one label and dimensions.
    enum Kind {
        static let counter: UInt8 = 0
        static let gauge: UInt8 = 1
        static let histogram: UInt8 = 2
        static let timer: UInt8 = 3
    }

    private func counter(label: String, dimensions: [(String, String)]) -> CounterHandler & FloatingPointCounterHandler {
        if let hit = cache.find(kind: Kind.counter, label: label, dimensions: dimensions) {
            return unsafeDowncast(hit, to: VigilMetrics.Counter.self)
        }
        let (names, values) = labels(dimensions)
        return handler(label, dimensions, kind: Kind.counter, values: values) {
            try registry.counter(Self.sanitize(label), help: help(label), labelNames: names)
        }
    }

    private func gauge(label: String, dimensions: [(String, String)]) -> MeterHandler & RecorderHandler {
        if let hit = cache.find(kind: Kind.gauge, label: label, dimensions: dimensions) {
            return unsafeDowncast(hit, to: VigilMetrics.Gauge.self)
        }
        let (names, values) = labels(dimensions)
        return handler(label, dimensions, kind: Kind.gauge, values: values) {
            try registry.gauge(Self.sanitize(label), help: help(label), labelNames: names)
        }
    }

    /// The series of `values` in the family `register` returns, kept in the cache under the
    /// label and dimensions as given; a handler that records nothing when the registry refuses
    /// the metric (counted on every make, never cached, never thrown or crashed on).
    private func handler<S: Series & SwiftMetricsHandle>(
        _ label: String, _ dimensions: [(String, String)], kind: UInt8, values: [String],
        register: () throws -> MetricFamily<S>
    ) -> S.Handler {
        let family: MetricFamily<S>
        do {
            family = try register()
        } catch {
            registry.errors.recordRegistrationConflict()
            return S.discard
        }
        let series = family.labels(values)
        // The overflow series stands for label sets past the limit: not cached, so that a later
        // make finds room freed by removals.
        guard series.labelValues == values else { return series.handler }
        let kept = cache.store(kind: kind, label: label, dimensions: dimensions, series: series) { [family] in
            family.remove(series: series)
        }
        return unsafeDowncast(kept, to: S.self).handler
    }

    /// Keys in the handler cache (tests).
    var cachedHandlerCount: Int { cache.count }

    private func destroy(_ handler: Any) {
        guard let series = handler as? Series else { return }
        cache.destroy(series)
    }
}

/// What a Vigil series is to swift-metrics. The series itself is the handler: a held
/// `Counter`'s `increment()` is one call into Vigil's counter, as with swift-prometheus.
protocol SwiftMetricsHandle {
    associatedtype Handler
    var handler: Handler { get }
    static var discard: Handler { get }
}

extension VigilMetrics.Counter: SwiftMetricsHandle {
    typealias Handler = any CounterHandler & FloatingPointCounterHandler
    var handler: Handler { self }
    static var discard: Handler { DiscardHandler() }
}

extension VigilMetrics.Gauge: SwiftMetricsHandle {
    typealias Handler = any MeterHandler & RecorderHandler
    var handler: Handler { self }
    static var discard: Handler { DiscardHandler() }
}

extension VigilMetrics.Histogram: SwiftMetricsHandle {
    typealias Handler = any RecorderHandler & TimerHandler
    var handler: Handler { self }
    static var discard: Handler { DiscardHandler() }
}

extension VigilMetrics.Counter: CounterHandler, FloatingPointCounterHandler {
    public func increment(by amount: Int64) {
        inc(by: Int(amount))
    }

    public func increment(by amount: Double) { inc(by: amount) }

    /// Ignored: Prometheus counters only go up.
    public func reset() {}
}

extension VigilMetrics.Gauge: MeterHandler, RecorderHandler {
    public func set(_ value: Int64) { set(Double(value)) }
    public func increment(by amount: Double) { inc(by: amount) }
    public func decrement(by amount: Double) { dec(by: amount) }
    public func record(_ value: Int64) { set(Double(value)) }
    public func record(_ value: Double) { set(value) }
}

extension VigilMetrics.Histogram: RecorderHandler, TimerHandler {
    public func record(_ value: Int64) { observe(Double(value)) }
    public func record(_ value: Double) { observe(value) }
    public func recordNanoseconds(_ duration: Int64) { observe(Duration.nanoseconds(duration)) }
}

final class DiscardHandler: CounterHandler, FloatingPointCounterHandler, MeterHandler, RecorderHandler, TimerHandler, Sendable {
    func increment(by: Int64) {}
    func increment(by: Double) {}
    func reset() {}
    func set(_ value: Int64) {}
    func set(_ value: Double) {}
    func decrement(by: Double) {}
    func record(_ value: Int64) {}
    func record(_ value: Double) {}
    func recordNanoseconds(_ duration: Int64) {}
}
