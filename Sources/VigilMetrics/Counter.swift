import VigilSupport
import Synchronization

/// A monotonic counter. Integer adds are exact up to 2^64; Double adds are kept apart so that
/// they never round the integer part. Increments allocate nothing and take no lock.
///
/// Uncontended, an increment is one compare-exchange. The first time two threads collide on a
/// counter it grows stripes (one cache line pair each, chosen by thread) so that hot counters
/// shared between cores do not bounce one cache line, as Java's `LongAdder` does.
public final class Counter: Series, @unchecked Sendable {
    @usableFromInline let base = Atomic<UInt64>(0)
    /// Address of the stripes, 0 until the counter has seen contention.
    @usableFromInline let stripes = Atomic<UInt>(0)
    @usableFromInline let floating = Atomic<UInt64>(0)
    /// A histogram whose observations this counter counts as well as its own increments; see
    /// `countObservations(of:)`. Set once, then only read.
    private let observed = ObservedHistogram()
    /// Set once an exemplar is kept, so that rendering skips the lock for the many that have none.
    /// Beside the values: a scrape reads these four fields and nothing else of the counter.
    let hasExemplar = Atomic<Bool>(false)
    let exemplarLock = SpinLock()
    nonisolated(unsafe) var exemplar: Exemplar?


    @usableFromInline static let stripeCount = 16
    /// 128 bytes a stripe: adjacent-line prefetchers pull cache lines in pairs.
    @usableFromInline static let stripeWords = 16

    deinit {
        let raw = stripes.load(ordering: .acquiring)
        if raw != 0 {
            let cells = UnsafeMutablePointer<Atomic<UInt64>>(bitPattern: raw)!
            cells.deinitialize(count: Self.stripeCount * Self.stripeWords)
            cells.deallocate()
        }
    }

    /// Adds one.
    @inlinable
    public func inc() { add(1) }

    /// Adds `amount`; a negative amount is dropped and counted as an error.
    @inlinable
    public func inc(by amount: Int) {
        if amount >= 0 {
            add(UInt64(amount))
        } else {
            errors.record(.negativeIncrement)
        }
    }

    /// Adds `amount`; a negative, NaN or infinite amount is dropped and counted as an error.
    @inlinable
    public func inc(by amount: Double) {
        guard amount.isFinite else { return errors.record(.nonFiniteIncrement) }
        guard amount >= 0 else { return errors.record(.negativeIncrement) }
        floating.addDouble(amount)
    }

    /// Adds `amount` and keeps `exemplar` (its labels, such as a trace id, this amount, now) as
    /// the counter's exemplar. Exemplars are written in the OpenMetrics format only.
    public func inc(by amount: Double = 1, exemplar labels: [(name: String, value: String)]) {
        guard amount.isFinite else { return errors.record(.nonFiniteIncrement) }
        guard amount >= 0 else { return errors.record(.negativeIncrement) }
        if amount == amount.rounded(), amount < 0x1p63 {
            add(UInt64(amount))
        } else {
            floating.addDouble(amount)
        }
        let sample = Exemplar(labels: labels, value: amount, timestamp: SystemClock.wallSeconds())
        guard sample.isValid else { return errors.record(.invalidExemplar) }
        exemplarLock.withLock { exemplar = sample }
        hasExemplar.store(true, ordering: .releasing)
    }

    /// The counter's current value.
    public var value: Double {
        Double(integerTotal) + floating.doubleValue
    }

    /// From now on this counter also counts every observation of `histogram`, without an add
    /// of its own: what `PluginObserver` does for executions, which are exactly the duration
    /// histogram's observations, so that an execution costs one atomic add fewer. Only the first
    /// call takes effect.
    package func countObservations(of histogram: Histogram) {
        observed.set(histogram)
    }

    var integerTotal: UInt64 {
        var total = base.load(ordering: .relaxed)
        total &+= observed.observationCount
        let raw = stripes.load(ordering: .acquiring)
        if raw != 0 {
            let cells = UnsafeMutablePointer<Atomic<UInt64>>(bitPattern: raw)!
            for i in 0..<Self.stripeCount {
                total &+= cells[i * Self.stripeWords].load(ordering: .relaxed)
            }
        }
        return total
    }

    @inlinable
    @inline(__always)
    func add(_ n: UInt64) {
        let raw = stripes.load(ordering: .relaxed)
        if raw == 0 {
            let current = base.load(ordering: .relaxed)
            if base.compareExchange(expected: current, desired: current &+ n, ordering: .relaxed).exchanged {
                return
            }
            addContended(n)
        } else {
            addToStripe(n, raw)
        }
    }

    @inlinable
    @inline(__always)
    func addToStripe(_ n: UInt64, _ raw: UInt) {
        let cells = UnsafeMutablePointer<Atomic<UInt64>>(bitPattern: raw).unsafelyUnwrapped
        let index = Int(currentThreadHash() & UInt(Self.stripeCount - 1)) * Self.stripeWords
        cells[index].wrappingAdd(n, ordering: .relaxed)
    }

    /// Another thread won the race for `base`: make stripes (once) and add to this thread's.
    @usableFromInline
    func addContended(_ n: UInt64) {
        var raw = stripes.load(ordering: .acquiring)
        if raw == 0 {
            let words = Self.stripeCount * Self.stripeWords
            let fresh = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: words)
            for i in 0..<words { (fresh + i).initialize(to: Atomic(0)) }
            let (exchanged, winner) = stripes.compareExchange(
                expected: 0, desired: UInt(bitPattern: fresh), ordering: .acquiringAndReleasing)
            if exchanged {
                raw = UInt(bitPattern: fresh)
            } else {
                fresh.deinitialize(count: words)
                fresh.deallocate()
                raw = winner
            }
        }
        addToStripe(n, raw)
    }

    /// Reads a batch of counters (loads only, independent of each other, so the processor has
    /// the whole batch in flight), then writes their lines from the plan's prefixes. A counter
    /// with a fractional part or an exemplar to write, and every counter when `_created` is
    /// asked for, goes through `write(_:to:)`.
    override class func writeAll(_ plan: RenderPlan, _ family: FamilyLayout, to writer: ExpositionWriter) {
        guard !writer.includeCreated else { return super.writeAll(plan, family, to: writer) }
        let openMetrics = writer.format == .openMetrics
        let batch = renderBatch
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: batch) { totals in
            withUnsafeTemporaryAllocation(of: Bool.self, capacity: batch) { plain in
                var start = 0
                while start < plan.count {
                    let end = min(start + batch, plan.count)
                    for i in start..<end {
                        plan.series(i, as: Counter.self)._withUnsafeGuaranteedRef { counter in
                            totals[i &- start] = counter.integerTotal
                            plain[i &- start] = counter.floating.doubleValue == 0
                                && !(openMetrics && counter.hasExemplar.load(ordering: .acquiring))
                        }
                    }
                    for i in start..<end {
                        if plain[i &- start] {
                            writer.line(plan.prefix(i), integer: totals[i &- start])
                        } else {
                            plan.series(i, as: Counter.self)._withUnsafeGuaranteedRef { $0.write(family, to: writer) }
                        }
                    }
                    start = end
                }
            }
        }
    }

    override func write(_ family: FamilyLayout, to writer: ExpositionWriter) {
        let floatingPart = floating.doubleValue
        let exemplar = writer.format == .openMetrics && hasExemplar.load(ordering: .acquiring) ? exemplarLock.withLock { self.exemplar } : nil
        if floatingPart == 0, exemplar == nil {
            writer.line(linePrefix, integer: integerTotal)
        } else {
            writer.line(linePrefix, value: value, exemplar: exemplar)
        }
        if writer.includeCreated {
            writer.sample(family.nameBytes, suffix: "_created", labels: renderedLabels, value: created)
        }
    }
}
