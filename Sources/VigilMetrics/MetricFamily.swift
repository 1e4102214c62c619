import VigilSupport
import Synchronization

/// A metric with label names: one series per distinct set of label values.
///
/// `labels(…)` finds an existing series without a lock and without allocating; only the first
/// use of a label set takes the family's lock to create it. Keep the returned handle when you
/// can: it is the series itself.
///
/// A cardinality guard caps the number of series. Past the limit, new label sets all land in one
/// overflow series, whose label values are all `"__overflow__"`, and the registry counts them in
/// `vigil_metric_series_overflow_total{metric}`.
public final class MetricFamily<S: Series>: @unchecked Sendable {
    /// What this family is.
    public let descriptor: MetricDescriptor
    /// The most series this family holds before sending new label sets to the overflow series.
    public let seriesLimit: Int

    @usableFromInline let labelCount: Int
    /// The current `SeriesTable`, unretained: `state` owns it.
    @usableFromInline let currentTable: Atomic<UInt>
    @usableFromInline let errors: MetricErrors
    /// Handed out, unexposed, when `labels(…)` is called with the wrong number of values.
    @usableFromInline let discard: S
    let overflowed = Atomic<UInt64>(0)
    let layout: FamilyLayout
    private let make: @Sendable ([String], UInt64) -> S
    private let state: Locked<State>

    private struct State {
        var series: [S] = []
        var table: SeriesTable
        var retiredTables: [SeriesTable] = []
        var sorted: [S]?
        var overflow: S?
    }

    /// The label value of every label of the overflow series.
    public static var overflowLabelValue: String { "__overflow__" }

    init(_ descriptor: MetricDescriptor, seriesLimit: Int, errors: MetricErrors, make: @escaping @Sendable ([String], UInt64) -> S) {
        self.descriptor = descriptor
        self.seriesLimit = seriesLimit
        self.labelCount = descriptor.labelNames.count
        self.errors = errors
        self.make = make
        self.layout = FamilyLayout(descriptor)
        self.discard = make(descriptor.labelNames.map { _ in "" }, 0)
        let table = SeriesTable(capacity: 16)
        self.currentTable = Atomic(UInt(bitPattern: Unmanaged.passUnretained(table).toOpaque()))
        self.state = Locked(State(table: table))
    }

    /// The series of a family without labels.
    @inlinable
    public func labels() -> S {
        guard labelCount == 0 else { return mismatch() }
        return find(LabelHash.finish(LabelHash.seed), []) { _ in true }
    }

    /// The series for one label value.
    @inlinable
    public func labels(_ a: String) -> S {
        guard labelCount == 1 else { return mismatch() }
        var h = LabelHash.seed
        LabelHash.combine(&h, a)
        return find(LabelHash.finish(h), CollectionOfOne(a)) { $0.labelValues[0] == a }
    }

    /// The series for two label values, in the order of the label names.
    @inlinable
    public func labels(_ a: String, _ b: String) -> S {
        guard labelCount == 2 else { return mismatch() }
        var h = LabelHash.seed
        LabelHash.combine(&h, a)
        LabelHash.combine(&h, b)
        return find(LabelHash.finish(h), [a, b]) { $0.labelValues[0] == a && $0.labelValues[1] == b }
    }

    /// The series for three label values, in the order of the label names.
    @inlinable
    public func labels(_ a: String, _ b: String, _ c: String) -> S {
        guard labelCount == 3 else { return mismatch() }
        var h = LabelHash.seed
        LabelHash.combine(&h, a)
        LabelHash.combine(&h, b)
        LabelHash.combine(&h, c)
        return find(LabelHash.finish(h), [a, b, c]) {
            $0.labelValues[0] == a && $0.labelValues[1] == b && $0.labelValues[2] == c
        }
    }

    /// The series for any number of label values, in the order of the label names. A wrong
    /// count is not a crash: the call gets a series that is never exposed, and the registry
    /// counts a `label_count_mismatch` error.
    public func labels(_ values: [String]) -> S {
        guard values.count == labelCount else { return mismatch() }
        return find(LabelHash.of(values), values) { $0.labelValues == values }
    }

    /// Finds the series without a lock; creates it under the lock the first time.
    /// `values` is only turned into an array on that first time.
    @inlinable
    @inline(__always)
    func find<C: Collection<String>>(_ hash: UInt64, _ values: @autoclosure () -> C, _ matches: (Series) -> Bool) -> S {
        let raw = currentTable.load(ordering: .acquiring)
        let table = Unmanaged<SeriesTable>.fromOpaque(UnsafeRawPointer(bitPattern: raw).unsafelyUnwrapped)
        let hit = table._withUnsafeGuaranteedRef { $0.find(hash, matches) }
        if let hit {
            return Unmanaged<S>.fromOpaque(hit).takeUnretainedValue()
        }
        return create(Array(values()), hash: hash)
    }

    @usableFromInline
    func mismatch() -> S {
        errors.record(.labelCountMismatch)
        return discard
    }

    @usableFromInline
    func create(_ values: [String], hash: UInt64) -> S {
        state.withLock { state in
            if let hit = state.table.find(hash, { $0.labelValues == values }) {
                return Unmanaged<S>.fromOpaque(hit).takeUnretainedValue()
            }
            guard state.series.count < seriesLimit else {
                overflowed.wrappingAdd(1, ordering: .relaxed)
                if let overflow = state.overflow { return overflow }
                let overflowValues = values.map { _ in Self.overflowLabelValue }
                let overflow = make(overflowValues, LabelHash.of(overflowValues))
                state.overflow = overflow
                return overflow
            }
            let series = make(values, hash)
            state.series.append(series)
            state.sorted = nil
            if (state.table.count + 1) * 2 > state.table.capacity {
                let bigger = SeriesTable(capacity: state.table.capacity * 2)
                for existing in state.series { bigger.insert(existing) }
                state.retiredTables.append(state.table)
                state.table = bigger
                currentTable.store(UInt(bitPattern: Unmanaged.passUnretained(bigger).toOpaque()), ordering: .releasing)
            } else {
                state.table.insert(series)
            }
            return series
        }
    }

    /// How many series the family holds, not counting the overflow series.
    public var seriesCount: Int { state.withLock { $0.series.count } }

    /// How many `labels(…)` calls landed in the overflow series.
    public var overflowCount: UInt64 { overflowed.load(ordering: .relaxed) }

    /// Every series, sorted by label values, the overflow series last.
    public var allSeries: [S] {
        state.withLock { state in
            if state.sorted == nil {
                state.sorted = state.series.sorted { $0.labelValues.lexicographicallyPrecedes($1.labelValues) }
            }
            return state.overflow.map { state.sorted! + [$0] } ?? state.sorted!
        }
    }
}

/// A registered family, of whatever kind, as the registry renders it.
protocol ExposableFamily: AnyObject, Sendable {
    var descriptor: MetricDescriptor { get }
    var overflowCount: UInt64 { get }
    func write(to writer: ExpositionWriter)
}

extension MetricFamily: ExposableFamily {
    func write(to writer: ExpositionWriter) {
        let series = allSeries
        guard !series.isEmpty else { return }
        writer.header(descriptor)
        for s in series { s.write(layout, to: writer) }
    }
}

public typealias CounterFamily = MetricFamily<Counter>
public typealias GaugeFamily = MetricFamily<Gauge>
public typealias HistogramFamily = MetricFamily<Histogram>
