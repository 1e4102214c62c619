import VigilSupport

/// What a registry's exposition may carry: families left out (`excluded`, or all but `included`),
/// a cap on each family's series, and the counts that make the cost visible
/// (`vigil_exported_series{family}`, `vigil_series_dropped_total{family}`, `vigil_series_budget`).
///
/// Applied when the registry renders, to the families about to be written: recording is never
/// touched, and a registry without a budget does none of this. A family is named as it is
/// queried (`vigil_plugin_io_bytes_total`) or by its base name (`vigil_plugin_io_bytes`).
///
/// Series are counted as Prometheus stores them: one per line of the text format, so a histogram's
/// label set costs its buckets, `+Inf`, `_sum` and `_count`. A capped family keeps whole label
/// sets, the first in exposition order, as many as fit in `maxSeriesPerFamily` (none, for a
/// histogram with more buckets than that).
public final class SeriesBudget: Sendable {
    /// Families never written.
    public let excluded: Set<String>
    /// When set, the only families written.
    public let included: Set<String>?
    /// The most series a family may carry in one scrape; nil for no cap.
    public let maxSeriesPerFamily: Int?
    /// The series a scrape of this node should stay within, exported as `vigil_series_budget`
    /// for an alert to compare with; nil exports nothing.
    public let budget: Int?

    private let state = Locked(State())
    private let onFirstDrop: (@Sendable (_ family: String, _ series: Int) -> Void)?

    private struct State {
        /// Series left out by the cap, by family, since the start.
        var dropped: [String: UInt64] = [:]
    }

    /// `vigil_exported_series{family}`: the series the scrape carries, by family.
    public static let exportedSeries = FamilyDescriptor<Gauge>.gauge(
        "vigil_exported_series",
        help: "Series this scrape carries, by family (a histogram's buckets, _sum and _count each count); this family's own included.",
        labelNames: ["family"])
    /// `vigil_series_dropped_total{family}`: series the cap left out.
    public static let droppedSeries = FamilyDescriptor<Counter>.counter(
        "vigil_series_dropped_total", help: "Series left out of scrapes because their family passed max_series_per_family, by family.",
        labelNames: ["family"])
    /// `vigil_series_budget`: the configured budget.
    public static let seriesBudget = FamilyDescriptor<Gauge>.gauge(
        "vigil_series_budget", help: "The series a scrape of this node should stay within (series_budget); absent when none is set.")

    /// - Parameters:
    ///   - onFirstDrop: called once per family, the first time the cap leaves some of its series out
    ///     (to log it); never on the recording path.
    public init(excluded: Set<String> = [], included: Set<String>? = nil, maxSeriesPerFamily: Int? = nil, budget: Int? = nil,
                onFirstDrop: (@Sendable (_ family: String, _ series: Int) -> Void)? = nil) {
        self.excluded = excluded
        self.included = included
        self.maxSeriesPerFamily = maxSeriesPerFamily.map { max(1, $0) }
        self.budget = budget
        self.onFirstDrop = onFirstDrop
    }

    /// True when the family `descriptor` describes is written.
    public func admits(_ descriptor: MetricDescriptor) -> Bool {
        let queryName = descriptor.queryName
        if excluded.contains(queryName) || excluded.contains(descriptor.name) { return false }
        guard let included else { return true }
        return included.contains(queryName) || included.contains(descriptor.name)
    }

    /// Series dropped so far from `family` (its query name).
    public func dropped(_ family: String) -> UInt64 {
        state.withLock { $0.dropped[family] ?? 0 }
    }

    /// Lines a label set of this family writes in the text format.
    static func linesPerSeries(_ d: MetricDescriptor) -> Int {
        d.type == .histogram ? d.buckets.count + 3 : 1
    }

    /// Counts `series` more dropped from `family`; calls `onFirstDrop` the first time.
    func recordDrop(_ family: String, series: Int) {
        let first = state.withLock { state -> Bool in
            let before = state.dropped[family]
            state.dropped[family, default: 0] += UInt64(series)
            return before == nil
        }
        if first { onFirstDrop?(family, series) }
    }

    /// The dropped counter's samples, one per family that ever dropped series.
    func droppedSamples() -> [CollectedSample] {
        state.withLock { state in
            state.dropped.map { CollectedSample(labelValues: [$0.key], .counter(Double($0.value))) }
        }
    }
}

extension MetricFamily {
    /// Series in the next scrape (label sets, the overflow series included).
    var renderedSeriesCount: Int { plan().count }

    /// Writes the first `limit` series of the family in exposition order.
    func write(to writer: ExpositionWriter, limit: Int) {
        let plan = plan()
        guard plan.count > 0, limit > 0 else { return }
        writer.header(descriptor)
        S.writeAll(plan.count <= limit ? plan : RenderPlan(Array(plan.series.prefix(limit))), layout, to: writer)
    }
}

extension Registry {
    /// Applies `budget` to the items of one scrape: leaves out what it excludes, caps what passes
    /// its limit, and adds its own families (exported series, dropped series, the budget).
    func apply(_ budget: SeriesBudget, to items: [Item]) -> [Item] {
        var out: [Item] = []
        out.reserveCapacity(items.count + 3)
        var counts: [(String, Int)] = []
        let cap = budget.maxSeriesPerFamily ?? Int.max
        for item in items {
            let d = item.descriptor
            guard budget.admits(d) else { continue }
            let k = SeriesBudget.linesPerSeries(d)
            let keep = cap / k  // whole label sets only: a histogram larger than the cap is left out
            switch item {
            case .family(let family), .limited(let family, _):
                let n = family.renderedSeriesCount
                if n > keep {
                    budget.recordDrop(d.queryName, series: (n - keep) * k)
                    out.append(.limited(family, keep))
                    if keep > 0 { counts.append((d.queryName, keep * k)) }
                } else {
                    out.append(item)
                    if n > 0 { counts.append((d.queryName, n * k)) }
                }
            case .collected(let layout, let samples):
                if samples.count > keep {
                    let sorted = samples.sorted { $0.labelValues.lexicographicallyPrecedes($1.labelValues) }
                    budget.recordDrop(d.queryName, series: (samples.count - keep) * k)
                    out.append(.collected(layout, Array(sorted.prefix(keep))))
                    if keep > 0 { counts.append((d.queryName, keep * k)) }
                } else {
                    out.append(item)
                    if !samples.isEmpty { counts.append((d.queryName, samples.count * k)) }
                }
            }
        }
        let dropped = budget.droppedSamples()
        if !dropped.isEmpty, budget.admits(SeriesBudget.droppedSeries.metric) {
            out.append(.collected(FamilyLayout(SeriesBudget.droppedSeries.metric), dropped))
            counts.append((SeriesBudget.droppedSeries.metric.queryName, dropped.count))
        }
        if let limit = budget.budget, budget.admits(SeriesBudget.seriesBudget.metric) {
            out.append(.collected(FamilyLayout(SeriesBudget.seriesBudget.metric), [CollectedSample(.gauge(Double(limit)))]))
            counts.append((SeriesBudget.seriesBudget.metric.name, 1))
        }
        let exported = SeriesBudget.exportedSeries.metric
        if budget.admits(exported) {
            counts.append((exported.name, counts.count + 1))
            out.append(.collected(FamilyLayout(exported), counts.map { CollectedSample(labelValues: [$0.0], .gauge(Double($0.1))) }))
        }
        return out
    }
}
