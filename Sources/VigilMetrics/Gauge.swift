import VigilSupport
import Synchronization

/// A value that goes up and down. Every operation is lock-free and allocates nothing.
public final class Gauge: Series, @unchecked Sendable {
    @usableFromInline let bits = Atomic<UInt64>(0)
    /// A histogram whose observations are subtracted from the value; see
    /// `subtractObservations(of:)`. Set once, then only read.
    private let observed = ObservedHistogram()

    /// From now on every observation of `histogram` counts as a decrement of one, without an
    /// add of its own: what `PluginObserver` does for executions in flight (incremented when
    /// one starts; each that ends is an observation of the duration histogram), so that an
    /// execution costs one atomic add fewer. The value never goes below zero on account of it
    /// (on weakly ordered processors a reader may see an observation before the increment that
    /// preceded it). Only the first call takes effect.
    package func subtractObservations(of histogram: Histogram) {
        observed.set(histogram)
    }

    /// Sets the value.
    @inlinable
    public func set(_ value: Double) {
        bits.store(value.bitPattern, ordering: .relaxed)
    }

    /// Sets the value from an integer.
    @inlinable
    public func set(_ value: Int) {
        set(Double(value))
    }

    /// Sets the value to a point in time, in seconds since the epoch.
    public func setToCurrentTime() {
        set(SystemClock.wallSeconds())
    }

    /// Adds `amount` (which may be negative).
    @inlinable
    public func inc(by amount: Double = 1) {
        bits.addDouble(amount)
    }

    /// Subtracts `amount`.
    @inlinable
    public func dec(by amount: Double = 1) {
        bits.addDouble(-amount)
    }

    /// The current value.
    public var value: Double {
        guard observed.isSet else { return bits.doubleValue }
        // The observations first: each one's increment came before it.
        let ended = Double(observed.observationCount)
        return max(0, bits.doubleValue - ended)
    }

    /// Reads a batch of gauges, then writes their lines from the plan's prefixes; see
    /// `Counter.writeAll`.
    override class func writeAll(_ plan: RenderPlan, _ family: FamilyLayout, to writer: ExpositionWriter) {
        let batch = renderBatch
        withUnsafeTemporaryAllocation(of: Double.self, capacity: batch) { values in
            var start = 0
            while start < plan.count {
                let end = min(start + batch, plan.count)
                for i in start..<end {
                    values[i &- start] = plan.series(i, as: Gauge.self)._withUnsafeGuaranteedRef { $0.value }
                }
                for i in start..<end {
                    writer.line(plan.prefix(i), value: values[i &- start])
                }
                start = end
            }
        }
    }

    override func write(_ family: FamilyLayout, to writer: ExpositionWriter) {
        writer.line(linePrefix, value: value)
    }
}
