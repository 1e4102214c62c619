#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// Readings of the system clocks, without Foundation: one `clock_gettime` each.
public enum SystemClock {
    /// Nanoseconds since the Unix epoch, from the realtime clock (timestamps people read).
    @inlinable
    public static func wallNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Seconds since the Unix epoch, from the realtime clock.
    @inlinable
    public static func wallSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Time since an arbitrary point, from the monotonic clock (intervals, time-outs).
    @inlinable
    public static func monotonic() -> Duration {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return .seconds(ts.tv_sec) + .nanoseconds(ts.tv_nsec)
    }

    /// `monotonic()` in nanoseconds.
    @inlinable
    public static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// The wall-clock time (nanoseconds since the Unix epoch) of a `monotonicNanoseconds()`
    /// reading, without reading the realtime clock: the monotonic reading plus the offset between
    /// the two clocks, measured again once it is a second old, so that a change of the system
    /// time shows within a second. What the OpenTelemetry SDKs call an anchored clock: code that
    /// needs both a duration and timestamps (an observed phase and its span) reads one clock at
    /// each end instead of two, and the timestamps agree with the duration exactly.
    @inlinable
    public static func wallNanoseconds(atMonotonic monotonic: UInt64) -> UInt64 {
        let anchored = WallAnchor.anchoredAt.load(ordering: .relaxed)
        if monotonic &- anchored > 1_000_000_000 || anchored == 0 { return WallAnchor.reanchor(at: monotonic) }
        return monotonic &+ WallAnchor.offset.load(ordering: .relaxed)
    }

    /// `monotonic()` in seconds.
    @inlinable
    public static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    @inlinable
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// The duration in whole milliseconds, rounded down, at least `minimum`; `Int.max` for one
    /// too long for that (a timeout from a variable can be `.milliseconds(Int.max)`), never a trap.
    @inlinable
    public func milliseconds(atLeast minimum: Int = 0) -> Int {
        let (seconds, attoseconds) = components
        let (whole, overflow) = Int(truncatingIfNeeded: seconds).multipliedReportingOverflow(by: 1000)
        guard !overflow else { return seconds < 0 ? minimum : .max }
        let (total, carry) = whole.addingReportingOverflow(Int(attoseconds / 1_000_000_000_000_000))
        return max(minimum, carry ? .max : total)
    }
}

/// The offset `SystemClock.wallNanoseconds(atMonotonic:)` adds, and the monotonic time it was
/// measured at. Threads that race to measure it again store near-equal values, so the two words
/// need no lock between them.
@usableFromInline
enum WallAnchor {
    @usableFromInline static let offset = Atomic<UInt64>(0)
    @usableFromInline static let anchoredAt = Atomic<UInt64>(0)

    @usableFromInline @inline(never)
    static func reanchor(at monotonic: UInt64) -> UInt64 {
        let wall = SystemClock.wallNanoseconds()
        let now = SystemClock.monotonicNanoseconds()
        let offset = wall &- now
        WallAnchor.offset.store(offset, ordering: .relaxed)
        anchoredAt.store(now, ordering: .relaxed)
        return monotonic &+ offset
    }
}
