#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A well-mixed hash of the calling thread's identity, for choosing a stripe of a contended
/// counter. `pthread_self` reads a thread register, so this costs about a nanosecond.
@inlinable
@inline(__always)
func currentThreadHash() -> UInt {
    let raw = UInt(pthread_self())
    // Fibonacci hashing: thread control blocks sit megabytes apart, so the high bits of the
    // product are where the difference between two threads shows.
    return (raw &* 0x9E37_79B9_7F4A_7C15) >> 32
}
