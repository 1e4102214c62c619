#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

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

    /// The duration in whole milliseconds, rounded down, at least `minimum`.
    @inlinable
    public func milliseconds(atLeast minimum: Int = 0) -> Int {
        let (seconds, attoseconds) = components
        return max(minimum, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }
}
