/// A metric family described once, typed by the kind of series it holds, so that the code that
/// registers it gets a `CounterFamily`, `GaugeFamily` or `HistogramFamily` back and the code
/// that collects it names the same value. Declare each family once, as a `static let`, and pass
/// that value around: its name is then spelled in one place only (client_golang's `Desc`).
///
///     static let jobs = FamilyDescriptor<Counter>.counter("jobs_total", help: "Jobs run.", labelNames: ["queue"])
///     let family = try registry.register(jobs)
public struct FamilyDescriptor<S: Series>: Sendable, Hashable, CustomStringConvertible {
    /// The family's name, help, type, unit, label names and (histograms) bucket bounds.
    public let metric: MetricDescriptor

    init(_ metric: MetricDescriptor) {
        self.metric = metric
    }

    /// The family's name as users query it: counters with their `_total` suffix.
    public var name: String { metric.queryName }
    public var labelNames: [String] { metric.labelNames }
    public var description: String { metric.description }
}

extension FamilyDescriptor where S == Counter {
    /// A counter family; the name may be given with or without `_total`.
    public static func counter(_ name: String, help: String, unit: String? = nil, labelNames: [String] = []) -> Self {
        Self(MetricDescriptor(name: name, help: help, type: .counter, unit: unit, labelNames: labelNames))
    }
}

extension FamilyDescriptor where S == Gauge {
    /// A gauge family.
    public static func gauge(_ name: String, help: String, unit: String? = nil, labelNames: [String] = []) -> Self {
        Self(MetricDescriptor(name: name, help: help, type: .gauge, unit: unit, labelNames: labelNames))
    }
}

extension FamilyDescriptor where S == Histogram {
    /// A histogram family. Bounds must be finite and strictly increasing; registration checks them.
    public static func histogram(
        _ name: String, help: String, unit: String? = nil, labelNames: [String] = [],
        buckets: [Double] = Histogram.defaultBuckets
    ) -> Self {
        Self(MetricDescriptor(name: name, help: help, type: .histogram, unit: unit, labelNames: labelNames, buckets: buckets))
    }

    /// The same family with other bucket bounds (a host that times slower work).
    public func withBuckets(_ buckets: [Double]) -> Self {
        let m = metric
        return Self(MetricDescriptor(name: m.name, help: m.help, type: .histogram, unit: m.unit, labelNames: m.labelNames, buckets: buckets))
    }
}

extension CollectedFamily {
    /// The samples of the family `descriptor` describes.
    public init<S>(_ descriptor: FamilyDescriptor<S>, samples: [CollectedSample]) {
        self.init(name: descriptor.metric.name, samples: samples)
    }
}
