import VigilSupport
import Synchronization

/// A metric with label names: one series per distinct set of label values.
///
/// `labels(…)` finds an existing series without a lock and without allocating; only the first
/// use of a label set takes the family's lock to create it. Keep the returned handle when you
/// can: it is the series itself.
///
/// Series can be removed (`remove(_:)`, `removeAll(matching:)`), for instance when a plugin is
/// unloaded, while other threads record: the series leaves the next scrape, a handle a caller
/// still holds keeps working but is no longer exported, and a later `labels(…)` with the same
/// values makes a fresh series that starts from zero. Removed series are freed once no lookup
/// can still be looking at them (`ReadSection`), so churn does not grow memory.
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
        /// What the next scrape writes; nil when series came or went since it was built.
        var plan: RenderPlan?
        var overflow: S?
        /// Removed series and retired tables that lookups may still be inside.
        var garbage: [AnyObject] = []
    }

    /// Garbage is freed in batches this large: each batch costs one grace period.
    let garbageBatch = MetricFamilyTuning.garbageBatch

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

    /// Finds the series without a lock, inside a read section so that a concurrent removal
    /// does not free it under us; creates it under the lock the first time. `values` is only
    /// turned into an array on that first time.
    @inlinable
    @inline(__always)
    func find<C: Collection<String>>(_ hash: UInt64, _ values: @autoclosure () -> C, _ matches: (Series) -> Bool) -> S {
        let section = ReadSection.enter()
        let raw = currentTable.load(ordering: .acquiring)
        let table = Unmanaged<SeriesTable>.fromOpaque(UnsafeRawPointer(bitPattern: raw).unsafelyUnwrapped)
        let hit = table._withUnsafeGuaranteedRef { $0.find(hash, matches) }
        if let hit {
            // Retained before the section closes: from here on the caller owns a reference.
            let series = Unmanaged<S>.fromOpaque(hit).retain()
            ReadSection.exit(section)
            return series.takeRetainedValue()
        }
        ReadSection.exit(section)
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
                state.plan = nil
                return overflow
            }
            let series = make(values, hash)
            state.series.append(series)
            state.plan = nil
            if state.table.hasRoomForOneMore {
                state.table.insert(series)
            } else {
                // Rebuilt from the live series, without tombstones, at most a quarter full.
                var capacity = 16
                while capacity < state.series.count * 4 { capacity *= 2 }
                let fresh = SeriesTable(capacity: capacity)
                for existing in state.series { fresh.insert(existing) }
                state.garbage.append(state.table)
                state.table = fresh
                currentTable.store(UInt(bitPattern: Unmanaged.passUnretained(fresh).toOpaque()), ordering: .releasing)
            }
            return series
        }
    }

    // MARK: Removal

    /// Removes the series with these label values, in the order of the label names; returns
    /// whether there was one. A handle to it that a caller holds keeps working, unexported.
    @discardableResult
    public func remove(_ values: String...) -> Bool {
        remove(values)
    }

    /// `remove(_:)` with the values as an array.
    @discardableResult
    public func remove(_ values: [String]) -> Bool {
        guard values.count == labelCount else { return false }
        let hash = LabelHash.of(values)
        return removeSeries { state in
            guard let hit = state.table.find(hash, { $0.labelValues == values }) else { return [] }
            return [Unmanaged<S>.fromOpaque(hit).takeUnretainedValue()]
        } == 1
    }

    /// Removes `series` if it is still this family's series for its label values; returns
    /// whether it was. Unlike `remove(_:)` by values, it never removes a fresh series that
    /// replaced a removed one.
    @discardableResult
    public func remove(series: S) -> Bool {
        removeSeries { state in
            guard let hit = state.table.find(series.labelHash, { $0 === series }) else { return [] }
            return [Unmanaged<S>.fromOpaque(hit).takeUnretainedValue()]
        } == 1
    }

    /// Removes every series whose labels have all the given values (`["plugin": "ocr"]`);
    /// returns how many. A label name the family does not have matches no series, and an empty
    /// match removes them all (the overflow series included).
    @discardableResult
    public func removeAll(matching labels: [String: String] = [:]) -> Int {
        var wanted: [(index: Int, value: String)] = []
        for (name, value) in labels {
            guard let index = descriptor.labelNames.firstIndex(of: name) else { return 0 }
            wanted.append((index, value))
        }
        let all = labels.isEmpty
        return removeSeries { state in
            if all, let overflow = state.overflow {
                overflow.removed.store(true, ordering: .releasing)
                state.overflow = nil
                state.plan = nil
            }
            return state.series.filter { series in wanted.allSatisfy { series.labelValues[$0.index] == $0.value } }
        }
    }

    /// Takes the series `choose` picks out of the table and the exported list, and frees a
    /// batch of garbage once it is large enough; returns how many series were removed.
    private func removeSeries(_ choose: (inout State) -> [S]) -> Int {
        let (removed, batch): (Int, [AnyObject]) = state.withLock { state in
            let chosen = choose(&state)
            guard !chosen.isEmpty else { return (0, []) }
            let gone = Set(chosen.map(ObjectIdentifier.init))
            for series in chosen {
                state.table.remove(series)
                series.removed.store(true, ordering: .releasing)
            }
            state.series.removeAll { gone.contains(ObjectIdentifier($0)) }
            state.plan = nil
            state.garbage.append(contentsOf: chosen as [AnyObject])
            guard state.garbage.count >= garbageBatch else { return (chosen.count, []) }
            defer { state.garbage = [] }
            return (chosen.count, state.garbage)
        }
        if !batch.isEmpty {
            // No lookup that could have found these is still running after this: they may go.
            withExtendedLifetime(batch) { ReadSection.synchronize() }
        }
        return removed
    }

    /// How many series the family holds, not counting the overflow series.
    public var seriesCount: Int { state.withLock { $0.series.count } }

    /// Removed series and retired tables not yet freed (tests).
    var garbageCount: Int { state.withLock { $0.garbage.count } }

    /// Slots of the current lookup table (tests).
    var tableCapacity: Int { state.withLock { $0.table.capacity } }

    /// How many `labels(…)` calls landed in the overflow series.
    public var overflowCount: UInt64 { overflowed.load(ordering: .relaxed) }

    /// Every series, sorted by label values, the overflow series last.
    public var allSeries: [S] {
        plan().series.map { unsafeDowncast($0, to: S.self) }
    }

    /// The plan of the next scrape, built again when series came or went since the last.
    func plan() -> RenderPlan {
        state.withLock { state in
            if let plan = state.plan { return plan }
            var sorted: [Series] = state.series.sorted { $0.labelValues.lexicographicallyPrecedes($1.labelValues) }
            if let overflow = state.overflow { sorted.append(overflow) }
            let plan = RenderPlan(sorted)
            state.plan = plan
            return plan
        }
    }
}

/// A registered family, of whatever kind, as the registry renders it.
protocol ExposableFamily: AnyObject, Sendable {
    var descriptor: MetricDescriptor { get }
    var overflowCount: UInt64 { get }
    func write(to writer: ExpositionWriter)
    var renderedSeriesCount: Int { get }
    func write(to writer: ExpositionWriter, limit: Int)
    func removeAll(matching labels: [String: String]) -> Int
}

extension MetricFamily: ExposableFamily {
    func write(to writer: ExpositionWriter) {
        let plan = plan()
        guard plan.count > 0 else { return }
        writer.header(descriptor)
        S.writeAll(plan, layout, to: writer)
    }
}

public typealias CounterFamily = MetricFamily<Counter>
public typealias GaugeFamily = MetricFamily<Gauge>
public typealias HistogramFamily = MetricFamily<Histogram>

/// How families batch their garbage; tests make batches tiny to free as often as possible.
enum MetricFamilyTuning {
    nonisolated(unsafe) static var garbageBatch = 256
}
