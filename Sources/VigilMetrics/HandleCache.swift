import VigilSupport
import Synchronization

/// The series a metrics backend handed out, by the name and dimensions its caller gave,
/// exactly as given: before any sanitising, sorting or registration. swift-metrics middleware
/// makes a `Counter(label:dimensions:)` on every request, so a backend answers a name it has
/// seen with one lock-free lookup here instead of registering again.
///
/// Lookups search without a lock inside a `ReadSection`, like `MetricFamily.labels(…)`.
/// A hit whose series was removed from its family (`destroy*`, `removeSeries(matching:)`) is
/// a miss: the caller makes a fresh series and `store` replaces the entry. Evicted entries
/// and retired tables are freed in batches after a grace period.
package final class HandleCache: @unchecked Sendable {
    /// What one key maps to: the series and how to take it out of its family.
    final class Entry: @unchecked Sendable {
        let kind: UInt8
        let label: String
        let dimensions: [(String, String)]
        let hash: UInt64
        let series: Series
        let remove: @Sendable () -> Void

        init(kind: UInt8, label: String, dimensions: [(String, String)], hash: UInt64, series: Series,
             remove: @escaping @Sendable () -> Void) {
            self.kind = kind
            self.label = label
            self.dimensions = dimensions
            self.hash = hash
            self.series = series
            self.remove = remove
        }

        func matches(_ kind: UInt8, _ label: String, _ dimensions: [(String, String)]) -> Bool {
            guard self.kind == kind, self.label == label, self.dimensions.count == dimensions.count else { return false }
            for i in dimensions.indices where self.dimensions[i] != dimensions[i] { return false }
            return true
        }
    }

    /// The current table, unretained: `state` owns it.
    private let current: Atomic<UInt>
    private let state: Locked<State>

    private struct State {
        var table: EntryTable
        /// Every live entry, by identity; owns them.
        var entries: [ObjectIdentifier: Entry] = [:]
        /// The entries of each series (several keys may name one series: dimensions in
        /// another order, a label spelled `a.b` or `a_b`).
        var bySeries: [ObjectIdentifier: [Entry]] = [:]
        /// Evicted entries and retired tables that lookups may still be inside.
        var garbage: [AnyObject] = []
    }

    package init() {
        let table = EntryTable(capacity: 16)
        current = Atomic(UInt(bitPattern: Unmanaged.passUnretained(table).toOpaque()))
        state = Locked(State(table: table))
    }

    /// The series stored for this key, unless it was removed from its family since.
    package func find(kind: UInt8, label: String, dimensions: [(String, String)]) -> Series? {
        let hash = Self.hash(kind, label, dimensions)
        let section = ReadSection.enter()
        let raw = current.load(ordering: .acquiring)
        let table = Unmanaged<EntryTable>.fromOpaque(UnsafeRawPointer(bitPattern: raw).unsafelyUnwrapped)
        let found: Series? = table._withUnsafeGuaranteedRef { table in
            guard let entry = table.find(hash, { $0.matches(kind, label, dimensions) }) else { return nil }
            return entry._withUnsafeGuaranteedRef { $0.series.isRemoved ? nil : $0.series }
        }
        ReadSection.exit(section)
        return found
    }

    /// Keeps `series` for this key, replacing an entry whose series was removed. When another
    /// thread stored a live series for the key first, returns that one instead.
    package func store(
        kind: UInt8, label: String, dimensions: [(String, String)], series: Series, remove: @escaping @Sendable () -> Void
    ) -> Series {
        let hash = Self.hash(kind, label, dimensions)
        let batch: [AnyObject]
        let kept: Series
        (kept, batch) = state.withLock { state in
            if let existing = state.table.find(hash, { $0.matches(kind, label, dimensions) })?.takeUnretainedValue() {
                if !existing.series.isRemoved { return (existing.series, []) }
                evict(existing, from: &state)
            }
            let entry = Entry(kind: kind, label: label, dimensions: dimensions, hash: hash, series: series, remove: remove)
            insert(entry, into: &state)
            return (series, takeGarbageBatch(&state))
        }
        free(batch)
        return kept
    }

    /// Forgets every key of `series` and removes it from its family: what `destroy*` does.
    /// Returns false when no key names it (a series this cache never handed out).
    @discardableResult
    package func destroy(_ series: Series) -> Bool {
        let (entries, batch): ([Entry], [AnyObject]) = state.withLock { state in
            let entries = state.bySeries[ObjectIdentifier(series)] ?? []
            for entry in entries { evict(entry, from: &state) }
            return (entries, takeGarbageBatch(&state))
        }
        entries.first?.remove()
        free(batch)
        return !entries.isEmpty
    }

    /// Live entries (tests).
    package var count: Int { state.withLock { $0.entries.count } }

    private func insert(_ entry: Entry, into state: inout State) {
        state.entries[ObjectIdentifier(entry)] = entry
        state.bySeries[ObjectIdentifier(entry.series), default: []].append(entry)
        if state.table.hasRoomForOneMore {
            state.table.insert(entry)
            return
        }
        // Rebuilt from the live entries, without tombstones, at most a quarter full.
        var capacity = 16
        while capacity < state.entries.count * 4 { capacity *= 2 }
        let fresh = EntryTable(capacity: capacity)
        for live in state.entries.values { fresh.insert(live) }
        state.garbage.append(state.table)
        state.table = fresh
        current.store(UInt(bitPattern: Unmanaged.passUnretained(fresh).toOpaque()), ordering: .releasing)
    }

    private func evict(_ entry: Entry, from state: inout State) {
        state.table.remove(entry)
        state.entries.removeValue(forKey: ObjectIdentifier(entry))
        let key = ObjectIdentifier(entry.series)
        state.bySeries[key]?.removeAll { $0 === entry }
        if state.bySeries[key]?.isEmpty == true { state.bySeries.removeValue(forKey: key) }
        state.garbage.append(entry)
    }

    private func takeGarbageBatch(_ state: inout State) -> [AnyObject] {
        guard state.garbage.count >= MetricFamilyTuning.garbageBatch else { return [] }
        defer { state.garbage = [] }
        return state.garbage
    }

    /// No lookup that could have found these is still running after the grace period.
    private func free(_ batch: [AnyObject]) {
        guard !batch.isEmpty else { return }
        withExtendedLifetime(batch) { ReadSection.synchronize() }
    }

    /// `LabelHash` over the kind, the label and each dimension's key and value.
    static func hash(_ kind: UInt8, _ label: String, _ dimensions: [(String, String)]) -> UInt64 {
        var h = LabelHash.seed ^ UInt64(kind)
        LabelHash.combine(&h, label)
        for (key, value) in dimensions {
            LabelHash.combine(&h, key)
            LabelHash.combine(&h, value)
        }
        return LabelHash.finish(h)
    }
}

/// `SeriesTable`'s open addressing, for cache entries: readers search without a lock inside a
/// `ReadSection`, writers (under the cache's lock) publish with release stores and leave
/// tombstones. Slots hold unretained entries: the cache's `entries` owns them.
final class EntryTable: @unchecked Sendable {
    private let mask: Int
    private let slots: UnsafeMutablePointer<Atomic<UInt>>
    private var count = 0
    private var tombstones = 0

    init(capacity: Int) {
        mask = capacity - 1
        slots = .allocate(capacity: capacity)
        for i in 0..<capacity { (slots + i).initialize(to: Atomic(0)) }
    }

    deinit {
        slots.deinitialize(count: mask + 1)
        slots.deallocate()
    }

    var hasRoomForOneMore: Bool { (count + tombstones + 1) * 2 <= mask + 1 }

    func find(_ hash: UInt64, _ matches: (HandleCache.Entry) -> Bool) -> Unmanaged<HandleCache.Entry>? {
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let raw = slots[i].load(ordering: .acquiring)
            if raw == 0 { return nil }
            if raw != SeriesTable.tombstone {
                let entry = Unmanaged<HandleCache.Entry>.fromOpaque(UnsafeRawPointer(bitPattern: raw).unsafelyUnwrapped)
                if entry._withUnsafeGuaranteedRef({ $0.hash == hash && matches($0) }) { return entry }
            }
            i = (i &+ 1) & mask
        }
    }

    func insert(_ entry: HandleCache.Entry) {
        var i = Int(truncatingIfNeeded: entry.hash) & mask
        while true {
            let raw = slots[i].load(ordering: .relaxed)
            if raw == 0 { break }
            if raw == SeriesTable.tombstone {
                tombstones -= 1
                break
            }
            i = (i + 1) & mask
        }
        slots[i].store(UInt(bitPattern: Unmanaged.passUnretained(entry).toOpaque()), ordering: .releasing)
        count += 1
    }

    func remove(_ entry: HandleCache.Entry) {
        let wanted = UInt(bitPattern: Unmanaged.passUnretained(entry).toOpaque())
        var i = Int(truncatingIfNeeded: entry.hash) & mask
        while true {
            let raw = slots[i].load(ordering: .relaxed)
            if raw == 0 { return }
            if raw == wanted {
                slots[i].store(SeriesTable.tombstone, ordering: .releasing)
                count -= 1
                tombstones += 1
                return
            }
            i = (i + 1) & mask
        }
    }
}
