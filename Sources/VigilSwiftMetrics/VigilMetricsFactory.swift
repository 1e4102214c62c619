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
/// `destroy*` removes the handler's series from the next scrape (if no newer series replaced it);
/// another handler for the same label and dimensions keeps recording, unexported, until it is
/// made again.
///
/// `reset()` of a counter is ignored: Prometheus counters only go up, and a scraper treats a
/// counter that went down as a restart.
public struct VigilMetricsFactory: MetricsFactory {
    public let registry: Registry
    /// Bounds of aggregating recorders and of timers (seconds).
    public let buckets: [Double]

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

    /// The handler `make` builds, or one that records nothing when the registry refuses the
    /// metric; the refusal is counted, never thrown or crashed on.
    private func handler<H>(_ make: () throws -> H, fallback: @autoclosure () -> H) -> H {
        do {
            return try make()
        } catch {
            registry.errors.recordRegistrationConflict()
            return fallback()
        }
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> CounterHandler {
        counterHandler(label: label, dimensions: dimensions)
    }

    /// Floating-point counters share the integer counters' families: a Vigil counter keeps both.
    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> FloatingPointCounterHandler {
        counterHandler(label: label, dimensions: dimensions)
    }

    private func counterHandler(label: String, dimensions: [(String, String)]) -> CounterHandler & FloatingPointCounterHandler {
        let (names, values) = labels(dimensions)
        return handler({ CounterBridge(try registry.counter(Self.sanitize(label), help: help(label), labelNames: names), values) },
                       fallback: DiscardHandler())
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> MeterHandler {
        let (names, values) = labels(dimensions)
        return handler({ GaugeBridge(try registry.gauge(Self.sanitize(label), help: help(label), labelNames: names), values) },
                       fallback: DiscardHandler())
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> RecorderHandler {
        let (names, values) = labels(dimensions)
        if aggregate {
            return handler({
                HistogramBridge(try registry.histogram(Self.sanitize(label), help: help(label), labelNames: names, buckets: buckets), values)
            }, fallback: DiscardHandler())
        }
        return handler({ GaugeBridge(try registry.gauge(Self.sanitize(label), help: help(label), labelNames: names), values) },
                       fallback: DiscardHandler())
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> TimerHandler {
        let (names, values) = labels(dimensions)
        var name = Self.sanitize(label)
        if !name.hasSuffix("_seconds") { name += "_seconds" }
        return handler({
            HistogramBridge(try registry.histogram(name, help: help(label), unit: "seconds", labelNames: names, buckets: buckets), values)
        }, fallback: DiscardHandler())
    }

    public func destroyCounter(_ handler: CounterHandler) { (handler as? RemovableSeries)?.removeSeries() }
    public func destroyMeter(_ handler: MeterHandler) { (handler as? RemovableSeries)?.removeSeries() }
    public func destroyFloatingPointCounter(_ handler: FloatingPointCounterHandler) { (handler as? RemovableSeries)?.removeSeries() }
    public func destroyRecorder(_ handler: RecorderHandler) { (handler as? RemovableSeries)?.removeSeries() }
    public func destroyTimer(_ handler: TimerHandler) { (handler as? RemovableSeries)?.removeSeries() }
}

/// A handler whose series `destroy*` takes out of the exposition.
protocol RemovableSeries {
    func removeSeries()
}

final class CounterBridge: CounterHandler, FloatingPointCounterHandler, RemovableSeries, Sendable {
    let family: CounterFamily
    let counter: VigilMetrics.Counter
    init(_ family: CounterFamily, _ values: [String]) {
        self.family = family
        self.counter = family.labels(values)
    }
    func removeSeries() { family.remove(series: counter) }
    func increment(by amount: Int64) { counter.inc(by: Int(amount)) }
    func increment(by amount: Double) { counter.inc(by: amount) }
    func reset() {}
}

final class GaugeBridge: MeterHandler, RecorderHandler, RemovableSeries, Sendable {
    let family: GaugeFamily
    let gauge: VigilMetrics.Gauge
    init(_ family: GaugeFamily, _ values: [String]) {
        self.family = family
        self.gauge = family.labels(values)
    }
    func removeSeries() { family.remove(series: gauge) }
    func set(_ value: Int64) { gauge.set(Double(value)) }
    func set(_ value: Double) { gauge.set(value) }
    func increment(by amount: Double) { gauge.inc(by: amount) }
    func decrement(by amount: Double) { gauge.dec(by: amount) }
    func record(_ value: Int64) { gauge.set(Double(value)) }
    func record(_ value: Double) { gauge.set(value) }
}

final class HistogramBridge: RecorderHandler, TimerHandler, RemovableSeries, Sendable {
    let family: HistogramFamily
    let histogram: VigilMetrics.Histogram
    init(_ family: HistogramFamily, _ values: [String]) {
        self.family = family
        self.histogram = family.labels(values)
    }
    func removeSeries() { family.remove(series: histogram) }
    func record(_ value: Int64) { histogram.observe(Double(value)) }
    func record(_ value: Double) { histogram.observe(value) }
    func recordNanoseconds(_ duration: Int64) { histogram.observe(Duration.nanoseconds(duration)) }
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
