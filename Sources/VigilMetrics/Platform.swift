#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A well-mixed hash of the calling thread's identity, for choosing a stripe of a contended
/// counter. `pthread_self` reads a thread register, so this costs about a nanosecond.
@inlinable
@inline(__always)
func currentThreadHash() -> UInt {
    #if canImport(Darwin)
    let raw = UInt(bitPattern: pthread_self())
    #else
    let raw = UInt(pthread_self())
    #endif
    // Fibonacci hashing: thread control blocks sit megabytes apart, so the high bits of the
    // product are where the difference between two threads shows.
    return (raw &* 0x9E37_79B9_7F4A_7C15) >> 32
}

/// Nanoseconds since the Unix epoch, from the realtime clock.
@_spi(VigilInternal)
public func wallClockNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Seconds since the Unix epoch, from the realtime clock.
@usableFromInline
func wallClockSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
