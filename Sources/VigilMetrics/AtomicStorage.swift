import Synchronization

/// A fixed-size run of atomic 64-bit counters on the heap, for histogram buckets and the
/// registry's error counts. The owner frees it with `deallocate()`.
@usableFromInline
struct AtomicCounters: @unchecked Sendable {
    @usableFromInline let base: UnsafeMutablePointer<Atomic<UInt64>>
    @usableFromInline let count: Int

    init(count: Int, stride: Int = 1) {
        self.count = count
        base = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: count * stride)
        for i in 0..<(count * stride) {
            (base + i).initialize(to: Atomic(0))
        }
    }

    @inlinable
    @inline(__always)
    func add(_ n: UInt64, at index: Int) {
        base[index].wrappingAdd(n, ordering: .relaxed)
    }

    @inlinable
    func load(at index: Int) -> UInt64 {
        base[index].load(ordering: .relaxed)
    }

    func deallocate() {
        base.deinitialize(count: count)
        base.deallocate()
    }
}

extension Atomic where Value == UInt64 {
    /// Adds a Double to a Double stored as its bit pattern. Lock-free: one compare-exchange when
    /// no other thread writes at the same moment.
    @inlinable
    @inline(__always)
    func addDouble(_ delta: Double) {
        var current = load(ordering: .relaxed)
        while true {
            let next = (Double(bitPattern: current) + delta).bitPattern
            let (exchanged, original) = compareExchange(
                expected: current, desired: next, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    @inlinable
    var doubleValue: Double { Double(bitPattern: load(ordering: .relaxed)) }
}
