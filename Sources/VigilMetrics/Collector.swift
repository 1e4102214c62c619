/// Produces metric values when the registry is rendered, for numbers that are read rather than
/// recorded: a process's memory, a breaker's state.
///
/// A collector describes its families once, when it is registered, so that the registry can
/// refuse a clash before anything is scraped. Samples that do not fit their description are
/// dropped and counted as `invalid_collected_sample` errors, never written.
public protocol Collector: Sendable {
    /// The families `collect()` returns. Counter names may be given with or without `_total`.
    var descriptors: [MetricDescriptor] { get }

    /// The current values. Called on the thread that renders, once per scrape: keep it quick.
    func collect() -> [CollectedFamily]
}

/// The samples of one family a collector describes.
public struct CollectedFamily: Sendable {
    /// The family's name, as in its descriptor.
    public var name: String
    public var samples: [CollectedSample]

    public init(name: String, samples: [CollectedSample]) {
        self.name = name
        self.samples = samples
    }
}

/// One series of a collected family.
public struct CollectedSample: Sendable {
    /// Values for the family's label names, in order.
    public var labelValues: [String]
    public var value: CollectedValue

    public init(labelValues: [String] = [], _ value: CollectedValue) {
        self.labelValues = labelValues
        self.value = value
    }
}

/// A collected value; its case must match the family's type.
public enum CollectedValue: Sendable {
    case counter(Double)
    case gauge(Double)
    /// Per-bucket counts (not cumulative) for each bound of the descriptor and then `+Inf`.
    case histogram(buckets: [UInt64], sum: Double)
}

/// Handed back by `Registry.register(_:)`, to unregister the collector.
public struct CollectorRegistration: Sendable, Hashable {
    let id: Int
}

extension CollectedSample {
    /// Writes the sample, or returns false when it does not fit `descriptor`.
    func write(_ layout: FamilyLayout, to writer: ExpositionWriter) -> Bool {
        let d = layout.descriptor
        guard labelValues.count == d.labelNames.count else { return false }
        var labels: [UInt8] = []
        Escaping.appendLabels(names: d.labelNames, values: labelValues, to: &labels)
        switch (d.type, value) {
        case let (.counter, .counter(v)):
            guard v >= 0 || v.isNaN else { return false }
            writer.sample(layout.nameBytes, suffix: "_total", labels: labels, value: v)
        case let (.gauge, .gauge(v)):
            writer.sample(layout.nameBytes, suffix: "", labels: labels, value: v)
        case let (.histogram, .histogram(buckets, sum)):
            guard buckets.count == d.buckets.count + 1 else { return false }
            let bounds = writer.format == .openMetrics ? layout.openMetricsBounds : layout.textBounds
            var cumulative: UInt64 = 0
            for (i, n) in buckets.enumerated() {
                cumulative &+= n
                writer.bucket(layout.nameBytes, labels: labels, le: bounds[i], count: cumulative, exemplar: nil)
            }
            writer.sample(layout.nameBytes, suffix: "_count", labels: labels, integer: cumulative)
            writer.sample(layout.nameBytes, suffix: "_sum", labels: labels, value: sum)
        default:
            return false
        }
        return true
    }
}
