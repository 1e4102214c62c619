#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// State behind a pthread mutex, for the slow paths (registration, series creation, rendering).
///
/// Not `Synchronization.Mutex`: on Linux that lock is a futex inside the uninstrumented standard
/// library, so the thread sanitizer cannot see it and reports every access it guards as a race.
/// A pthread mutex is intercepted by the sanitizer and costs the same when uncontended.
public final class Locked<State>: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline var state: State

    public init(_ state: State) {
        self.state = state
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inlinable
    public func withLock<R>(_ body: (inout State) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }
}

/// A lock for critical sections of a few nanoseconds (copying an exemplar): one
/// compare-exchange to take, one store to release, no allocation, so that every series can
/// carry one. Spins briefly, then yields the core.
public struct SpinLock: ~Copyable, @unchecked Sendable {
    @usableFromInline let held = Atomic<Bool>(false)

    public init() {}

    @inlinable
    public func withLock<R>(_ body: () throws -> R) rethrows -> R {
        var spins = 0
        while !held.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            spins += 1
            if spins > 64 { sched_yield() }
        }
        defer { held.store(false, ordering: .releasing) }
        return try body()
    }
}
