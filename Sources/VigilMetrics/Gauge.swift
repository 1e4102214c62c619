import VigilSupport
import Synchronization

/// A value that goes up and down. Every operation is lock-free and allocates nothing.
public final class Gauge: Series, @unchecked Sendable {
    @usableFromInline let bits = Atomic<UInt64>(0)

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
    public var value: Double { bits.doubleValue }

    override func write(_ family: FamilyLayout, to writer: ExpositionWriter) {
        writer.line(linePrefix, value: value)
    }
}
