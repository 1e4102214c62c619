import VigilSupport
import Synchronization

/// Holds metric families and collectors, and renders them in either exposition format.
///
/// Registering a name twice with the same definition returns the family already there, so
/// independent parts of a host can ask for the same metric; a different definition throws
/// `RegistrationError.conflict` naming both. Registries are values you create and pass around;
/// there is no global one, so tests never collide.
public final class Registry: Sendable {
    /// Samples dropped instead of crashing, by reason (`vigil_metric_errors_total`).
    public let errors = MetricErrors()
    /// The series limit of families registered without one of their own.
    public let defaultSeriesLimit: Int

    private let state = Locked(State())
    private let lastRenderSize = Atomic<Int>(4096)

    private struct State {
        var families: [String: any ExposableFamily] = [:]
        /// Every sample name in use, with the family that uses it.
        var claimed: [String: MetricDescriptor] = [:]
        var collectors: [Int: (collector: any Collector, layouts: [String: FamilyLayout])] = [:]
        var nextCollectorID = 0
        var seriesBudget: SeriesBudget?
    }

    /// What the exposition leaves out and caps (`SeriesBudget`); nil, the default, writes every
    /// family whole and adds no budget families.
    public var seriesBudget: SeriesBudget? {
        get { state.withLock { $0.seriesBudget } }
        set { state.withLock { $0.seriesBudget = newValue } }
    }

    /// `vigil_metric_errors_total{reason}`: what `errors` counts.
    public static let metricErrors = FamilyDescriptor<Counter>.counter(
        "vigil_metric_errors_total", help: "Samples dropped instead of recorded, by reason.", labelNames: ["reason"])
    /// `vigil_metric_series_overflow_total{metric}`: label sets past a family's series limit.
    public static let seriesOverflow = FamilyDescriptor<Counter>.counter(
        "vigil_metric_series_overflow_total",
        help: "Label sets sent to a family's overflow series because it reached its series limit.", labelNames: ["metric"])

    /// - Parameter defaultSeriesLimit: the series limit of each family that sets none (≥ 1).
    public init(defaultSeriesLimit: Int = 10_000) {
        self.defaultSeriesLimit = max(1, defaultSeriesLimit)
        state.withLock { state in
            for d in [Self.metricErrors.metric, Self.seriesOverflow.metric] {
                for name in d.sampleNames { state.claimed[name] = d }
            }
        }
    }

    // MARK: Registration

    /// Registers the family `descriptor` describes, or returns the one registered with the same
    /// description; throws when the name is invalid or taken by another definition.
    /// - Parameter seriesLimit: this family's series limit (≥ 1), instead of the registry's default.
    public func register(_ descriptor: FamilyDescriptor<Counter>, seriesLimit: Int? = nil) throws(RegistrationError) -> CounterFamily {
        let d = descriptor.metric
        let sampleName = d.name + "_total"
        return try family(d, seriesLimit: seriesLimit) { [errors] values, hash in
            Counter(labelNames: d.labelNames, labelValues: values, hash: hash, errors: errors, sampleName: sampleName)
        }
    }

    /// Registers a gauge family; see `register(_:seriesLimit:)` for counters.
    public func register(_ descriptor: FamilyDescriptor<Gauge>, seriesLimit: Int? = nil) throws(RegistrationError) -> GaugeFamily {
        let d = descriptor.metric
        return try family(d, seriesLimit: seriesLimit) { [errors] values, hash in
            Gauge(labelNames: d.labelNames, labelValues: values, hash: hash, errors: errors, sampleName: d.name)
        }
    }

    /// Registers a histogram family; its bounds must be finite and strictly increasing.
    public func register(_ descriptor: FamilyDescriptor<Histogram>, seriesLimit: Int? = nil) throws(RegistrationError) -> HistogramFamily {
        let bounds = try Histogram.validatedBounds(descriptor.metric.buckets, name: descriptor.metric.name)
        let d = descriptor.withBuckets(bounds).metric
        return try family(d, seriesLimit: seriesLimit) { [errors] values, hash in
            Histogram(bounds: bounds, labelNames: d.labelNames, labelValues: values, hash: hash, errors: errors)
        }
    }

    /// A counter without labels.
    public func counter(_ name: String, help: String, unit: String? = nil) throws(RegistrationError) -> Counter {
        try register(.counter(name, help: help, unit: unit)).labels()
    }

    /// A counter family.
    public func counter(
        _ name: String, help: String, unit: String? = nil, labelNames: [String], seriesLimit: Int? = nil
    ) throws(RegistrationError) -> CounterFamily {
        try register(.counter(name, help: help, unit: unit, labelNames: labelNames), seriesLimit: seriesLimit)
    }

    /// A gauge without labels.
    public func gauge(_ name: String, help: String, unit: String? = nil) throws(RegistrationError) -> Gauge {
        try register(.gauge(name, help: help, unit: unit)).labels()
    }

    /// A gauge family.
    public func gauge(
        _ name: String, help: String, unit: String? = nil, labelNames: [String], seriesLimit: Int? = nil
    ) throws(RegistrationError) -> GaugeFamily {
        try register(.gauge(name, help: help, unit: unit, labelNames: labelNames), seriesLimit: seriesLimit)
    }

    /// A histogram without labels. Bounds must be finite and strictly increasing.
    public func histogram(
        _ name: String, help: String, unit: String? = nil, buckets: [Double] = Histogram.defaultBuckets
    ) throws(RegistrationError) -> Histogram {
        try register(.histogram(name, help: help, unit: unit, buckets: buckets)).labels()
    }

    /// A histogram family. Bounds must be finite and strictly increasing.
    public func histogram(
        _ name: String, help: String, unit: String? = nil, labelNames: [String],
        buckets: [Double] = Histogram.defaultBuckets, seriesLimit: Int? = nil
    ) throws(RegistrationError) -> HistogramFamily {
        try register(.histogram(name, help: help, unit: unit, labelNames: labelNames, buckets: buckets), seriesLimit: seriesLimit)
    }

    private func family<S: Series>(
        _ d: MetricDescriptor, seriesLimit: Int?, make: @escaping @Sendable ([String], UInt64) -> S
    ) throws(RegistrationError) -> MetricFamily<S> {
        try NameRules.validate(d)
        if let seriesLimit, seriesLimit < 1 {
            throw .invalidLimit(d.name, reason: "\(seriesLimit) is below 1")
        }
        let result: Result<MetricFamily<S>, RegistrationError> = state.withLock { state in
            if let existing = state.families[d.name] {
                if existing.descriptor == d, let same = existing as? MetricFamily<S> { return .success(same) }
                return .failure(.conflict(existing: existing.descriptor, requested: d))
            }
            for name in d.sampleNames {
                if let clash = state.claimed[name] { return .failure(.conflict(existing: clash, requested: d)) }
            }
            let family = MetricFamily(d, seriesLimit: seriesLimit ?? defaultSeriesLimit, errors: errors, make: make)
            state.families[d.name] = family
            for name in d.sampleNames { state.claimed[name] = d }
            return .success(family)
        }
        return try result.get()
    }

    /// Removes, from every registered family that has all these labels, the series whose labels
    /// have these values: what a host does when it unloads a plugin (`["plugin": "ocr"]`).
    /// Returns how many series went; an empty match removes nothing. Collectors are not
    /// touched: they report what they find at each scrape.
    @discardableResult
    public func removeSeries(matching labels: [String: String]) -> Int {
        guard !labels.isEmpty else { return 0 }
        let families = state.withLock { Array($0.families.values) }
        return families.reduce(0) { $0 + $1.removeAll(matching: labels) }
    }

    /// Adds a collector whose families are rendered with the registry's own. Throws when one
    /// of its descriptors is invalid or clashes with a registered family.
    @discardableResult
    public func register(_ collector: some Collector) throws(RegistrationError) -> CollectorRegistration {
        let descriptors = collector.descriptors
        for d in descriptors {
            try NameRules.validate(d)
            if d.type == .histogram { _ = try Histogram.validatedBounds(d.buckets, name: d.name) }
        }
        let result: Result<CollectorRegistration, RegistrationError> = state.withLock { state in
            var taken: [String: MetricDescriptor] = [:]
            for d in descriptors {
                for name in d.sampleNames {
                    if let clash = state.claimed[name] ?? taken[name] {
                        return .failure(.conflict(existing: clash, requested: d))
                    }
                    taken[name] = d
                }
            }
            state.claimed.merge(taken) { a, _ in a }
            let id = state.nextCollectorID
            state.nextCollectorID += 1
            let layouts = Dictionary(descriptors.map { ($0.name, FamilyLayout($0)) }) { a, _ in a }
            state.collectors[id] = (collector, layouts)
            return .success(CollectorRegistration(id: id))
        }
        return try result.get()
    }

    /// Removes a collector and frees its names.
    public func unregister(_ registration: CollectorRegistration) {
        state.withLock { state in
            guard let entry = state.collectors.removeValue(forKey: registration.id) else { return }
            for layout in entry.layouts.values {
                for name in layout.descriptor.sampleNames { state.claimed.removeValue(forKey: name) }
            }
        }
    }

    // MARK: Rendering

    enum Item {
        case family(any ExposableFamily)
        /// A family of which only the first `limit` series are written (`SeriesBudget`).
        case limited(any ExposableFamily, Int)
        case collected(FamilyLayout, [CollectedSample])

        var descriptor: MetricDescriptor {
            switch self {
            case .family(let f), .limited(let f, _): f.descriptor
            case .collected(let layout, _): layout.descriptor
            }
        }

        var name: String { descriptor.name }
    }

    /// Renders every family, sorted by name and then by label values, in `format`. The bytes
    /// are written straight into the returned array's storage, with no final copy.
    /// - Parameter includeCreated: also write the `_created` samples of counters and histograms.
    public func render(_ format: ExpositionFormat = .text, includeCreated: Bool = false) -> [UInt8] {
        var bytes: [UInt8] = []
        write(into: &bytes, format, includeCreated: includeCreated)
        return bytes
    }

    /// Appends the exposition `render` returns to `buffer`. Into an empty buffer it is written
    /// in place, in storage sized from the previous scrape, and the buffer's old storage is
    /// released; after existing bytes it is appended, one copy.
    public func write(into buffer: inout [UInt8], _ format: ExpositionFormat = .text, includeCreated: Bool = false) {
        let last = lastRenderSize.load(ordering: .relaxed)
        let estimate = last + last / 8 + 1024
        guard buffer.isEmpty else {
            let sink = ByteSink(capacity: estimate)
            write(to: ExpositionWriter(format: format, includeCreated: includeCreated, sink: sink))
            buffer.append(contentsOf: sink.written)
            return
        }
        var overflowed: ByteSink?
        buffer = [UInt8](unsafeUninitializedCapacity: estimate) { memory, initialized in
            let sink = ByteSink(lending: memory)
            write(to: ExpositionWriter(format: format, includeCreated: includeCreated, sink: sink))
            if sink.isInLentMemory {
                initialized = sink.count
            } else {
                // Larger than the estimate (the first scrape, or series were added): one copy.
                initialized = 0
                overflowed = sink
            }
        }
        if let overflowed { buffer = overflowed.bytes }
    }

    private func write(to writer: ExpositionWriter) {
        let (families, collectors, budget) = state.withLock { state in
            (Array(state.families.values), Array(state.collectors.values), state.seriesBudget)
        }
        var items = families.map(Item.family)
        for (collector, layouts) in collectors {
            for collected in collector.collect() {
                let name = layouts[collected.name] != nil ? collected.name : MetricDescriptor.counterBaseName(collected.name)
                guard let layout = layouts[name], layout.descriptor.type == .counter || name == collected.name else {
                    errors.record(.invalidCollectedSample)
                    continue
                }
                items.append(.collected(layout, collected.samples))
            }
        }
        items.append(contentsOf: selfMetrics(families))
        if let budget { items = apply(budget, to: items) }
        items.sort { $0.name < $1.name }

        for item in items {
            switch item {
            case .family(let family):
                family.write(to: writer)
            case .limited(let family, let limit):
                family.write(to: writer, limit: limit)
            case .collected(let layout, let samples):
                guard !samples.isEmpty else { continue }
                writer.header(layout.descriptor)
                let sorted = samples.sorted { $0.labelValues.lexicographicallyPrecedes($1.labelValues) }
                for sample in sorted where !sample.write(layout, to: writer) {
                    errors.record(.invalidCollectedSample)
                }
            }
        }
        writer.end()
        lastRenderSize.store(writer.sink.count, ordering: .relaxed)
    }

    /// Renders as a String; for tests and logs.
    public func renderString(_ format: ExpositionFormat = .text, includeCreated: Bool = false) -> String {
        String(decoding: render(format, includeCreated: includeCreated), as: UTF8.self)
    }

    private func selfMetrics(_ families: [any ExposableFamily]) -> [Item] {
        let errorSamples = MetricErrors.Reason.allCases.map {
            CollectedSample(labelValues: [$0.label], .counter(Double(errors.count($0))))
        }
        let overflowSamples = families.compactMap { family -> CollectedSample? in
            let n = family.overflowCount
            return n == 0 ? nil : CollectedSample(labelValues: [family.descriptor.name], .counter(Double(n)))
        }
        return [
            .collected(FamilyLayout(Self.metricErrors.metric), errorSamples),
            .collected(FamilyLayout(Self.seriesOverflow.metric), overflowSamples),
        ]
    }
}
