import Synchronization
import VigilMetrics
import VigilSupport

/// The `PhaseSeries` of every (plugin, phase) observed by name, so that
/// `observe(plugin:phase:)` costs one lock-free lookup instead of three labelled lookups and an
/// attributes array per call.
///
/// Readers search an open-addressing table inside a `ReadSection`, without a lock and without
/// allocating; a miss takes the lock, builds the entry and publishes it with a release store.
/// `removeAll(plugin:)` leaves tombstones and frees what it took only after a grace period, and
/// a table outgrown is retired the same way (the scheme of VigilMetrics' `SeriesTable`).
///
/// Entries are built and removed under the cache's lock, and the observer removes a plugin's
/// series from its families under the same lock (`withLock`), so a miss racing an unload
/// cannot publish an entry that holds series the unload already took out: once `unload`
/// returns, the next by-name observe makes fresh series, exactly as an uncached lookup would.
final class PhaseSeriesCache: @unchecked Sendable {
    private let current: Atomic<UInt>
    private let state: Locked<State>

    private struct State {
        var table: Table
        /// Every live entry; owns them (the table's slots are unretained).
        var entries: [PluginObserver.PhaseSeries] = []
    }

    init() {
        let table = Table(capacity: 16)
        current = Atomic(UInt(bitPattern: Unmanaged.passUnretained(table).toOpaque()))
        state = Locked(State(table: table))
    }

    /// VigilMetrics' `LabelHash` over the plugin and the phase.
    static func hash(_ plugin: String, _ phase: String) -> UInt64 {
        var h = LabelHash.seed
        LabelHash.combine(&h, plugin)
        LabelHash.combine(&h, phase)
        return LabelHash.finish(h)
    }

    /// The cached entry, or the one `make` builds and the cache keeps from now on.
    @inline(__always)
    func series(plugin: String, phase: String, make: () -> PluginObserver.PhaseSeries) -> PluginObserver.PhaseSeries {
        let hash = Self.hash(plugin, phase)
        let section = ReadSection.enter()
        let raw = current.load(ordering: .acquiring)
        let table = Unmanaged<Table>.fromOpaque(UnsafeRawPointer(bitPattern: raw).unsafelyUnwrapped)
        if let hit = table._withUnsafeGuaranteedRef({ $0.find(hash, plugin, phase) }) {
            // Retained before the section closes: from here on the caller owns a reference.
            let series = Unmanaged<PluginObserver.PhaseSeries>.fromOpaque(hit).retain()
            ReadSection.exit(section)
            return series.takeRetainedValue()
        }
        ReadSection.exit(section)
        return insert(hash: hash, plugin: plugin, phase: phase, make: make)
    }

    private func insert(hash: UInt64, plugin: String, phase: String, make: () -> PluginObserver.PhaseSeries) -> PluginObserver.PhaseSeries {
        let (series, retired): (PluginObserver.PhaseSeries, Table?) = state.withLock { state in
            if let hit = state.table.find(hash, plugin, phase) {
                return (Unmanaged<PluginObserver.PhaseSeries>.fromOpaque(hit).takeUnretainedValue(), nil)
            }
            let series = make()
            state.entries.append(series)
            var retired: Table?
            if !state.table.hasRoomForOneMore {
                // A power of two: slots are found by masking the hash.
                var capacity = 16
                while capacity < state.entries.count * 4 { capacity *= 2 }
                let grown = Table(capacity: capacity)
                for entry in state.entries where entry !== series { grown.insert(entry) }
                retired = state.table
                state.table = grown
                current.store(UInt(bitPattern: Unmanaged.passUnretained(grown).toOpaque()), ordering: .releasing)
            }
            state.table.insert(series)
            return (series, retired)
        }
        // Readers may still be inside the old table: it goes once none can be.
        if let retired { withExtendedLifetime(retired) { ReadSection.synchronize() } }
        return series
    }

    /// Runs `body` under the cache's lock, after taking every entry of `plugin` out of the
    /// cache; frees them once no reader can still hold them.
    func removeAll<R>(plugin: String, _ body: () -> R) -> R {
        let (result, removed): (R, [PluginObserver.PhaseSeries]) = state.withLock { state in
            let removed = state.entries.filter { $0.plugin == plugin }
            for entry in removed { state.table.remove(entry) }
            state.entries.removeAll { $0.plugin == plugin }
            return (body(), removed)
        }
        if !removed.isEmpty { withExtendedLifetime(removed) { ReadSection.synchronize() } }
        return result
    }

    /// How many (plugin, phase) pairs are cached (tests).
    var count: Int { state.withLock { $0.entries.count } }

    /// Open addressing over unretained entry pointers; see `PhaseSeriesCache`.
    private final class Table {
        let mask: Int
        let slots: UnsafeMutablePointer<Atomic<UInt>>
        private var used = 0
        static var tombstone: UInt { 1 }

        /// `capacity` is a power of two.
        init(capacity: Int) {
            mask = capacity - 1
            slots = .allocate(capacity: capacity)
            for i in 0..<capacity { (slots + i).initialize(to: Atomic(0)) }
        }

        deinit {
            slots.deinitialize(count: mask + 1)
            slots.deallocate()
        }

        /// Live entries and tombstones stay under half the slots.
        var hasRoomForOneMore: Bool { (used + 1) * 2 <= mask + 1 }

        @inline(__always)
        func find(_ hash: UInt64, _ plugin: String, _ phase: String) -> UnsafeRawPointer? {
            var i = Int(truncatingIfNeeded: hash) & mask
            while true {
                let raw = slots[i].load(ordering: .acquiring)
                if raw == 0 { return nil }
                if raw != Self.tombstone {
                    let pointer = UnsafeRawPointer(bitPattern: raw).unsafelyUnwrapped
                    let found = Unmanaged<PluginObserver.PhaseSeries>.fromOpaque(pointer)._withUnsafeGuaranteedRef {
                        $0.cacheHash == hash && $0.plugin == plugin && $0.phase == phase
                    }
                    if found { return pointer }
                }
                i = (i &+ 1) & mask
            }
        }

        func insert(_ series: PluginObserver.PhaseSeries) {
            var i = Int(truncatingIfNeeded: series.cacheHash) & mask
            while true {
                let raw = slots[i].load(ordering: .relaxed)
                if raw == 0 { break }
                if raw == Self.tombstone { used -= 1; break }
                i = (i &+ 1) & mask
            }
            slots[i].store(UInt(bitPattern: Unmanaged.passUnretained(series).toOpaque()), ordering: .releasing)
            used += 1
        }

        /// Leaves a tombstone, which still counts as used until a fresh table replaces it.
        func remove(_ series: PluginObserver.PhaseSeries) {
            let wanted = UInt(bitPattern: Unmanaged.passUnretained(series).toOpaque())
            var i = Int(truncatingIfNeeded: series.cacheHash) & mask
            while true {
                let raw = slots[i].load(ordering: .relaxed)
                if raw == 0 { return }
                if raw == wanted {
                    slots[i].store(Self.tombstone, ordering: .releasing)
                    return
                }
                i = (i &+ 1) & mask
            }
        }
    }
}
