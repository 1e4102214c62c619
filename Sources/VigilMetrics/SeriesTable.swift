import Synchronization

/// An open-addressing hash table from label values to series that readers search without a
/// lock. Writers (under their family's lock) only ever fill empty slots, publishing each with a
/// release store; when the table is half full the family builds a bigger one and retires this
/// one, keeping it alive, since a reader may still be inside it.
///
/// Slots hold unretained series pointers: the family's list of series owns them, and a family
/// never drops a series while it lives.
@usableFromInline
final class SeriesTable: @unchecked Sendable {
    @usableFromInline let mask: Int
    @usableFromInline let slots: UnsafeMutablePointer<Atomic<UInt>>
    private(set) var count = 0

    init(capacity: Int) {
        mask = capacity - 1
        slots = .allocate(capacity: capacity)
        for i in 0..<capacity { (slots + i).initialize(to: Atomic(0)) }
    }

    deinit {
        slots.deinitialize(count: mask + 1)
        slots.deallocate()
    }

    var capacity: Int { mask + 1 }

    /// The series whose hash is `hash` and that `matches` accepts, or nil.
    @inlinable
    @inline(__always)
    func find(_ hash: UInt64, _ matches: (Series) -> Bool) -> UnsafeRawPointer? {
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let raw = slots[i].load(ordering: .acquiring)
            if raw == 0 { return nil }
            let pointer = UnsafeRawPointer(bitPattern: raw).unsafelyUnwrapped
            let found = Unmanaged<Series>.fromOpaque(pointer)._withUnsafeGuaranteedRef {
                $0.labelHash == hash && matches($0)
            }
            if found { return pointer }
            i = (i &+ 1) & mask
        }
    }

    /// Puts `series` in the first free slot of its probe sequence. Writers only.
    func insert(_ series: Series) {
        var i = Int(truncatingIfNeeded: series.labelHash) & mask
        while slots[i].load(ordering: .relaxed) != 0 { i = (i + 1) & mask }
        slots[i].store(UInt(bitPattern: Unmanaged.passUnretained(series).toOpaque()), ordering: .releasing)
        count += 1
    }
}

/// FNV-1a over each label value's UTF-8 with a 0xFF separator (a byte UTF-8 never holds), then
/// MurmurHash3's finaliser so that the low bits, which pick the slot, are well mixed.
@usableFromInline
enum LabelHash {
    @inlinable
    static var seed: UInt64 { 0xcbf2_9ce4_8422_2325 }

    @inlinable
    @inline(__always)
    static func combine(_ hash: inout UInt64, _ value: String) {
        let prime: UInt64 = 0x0000_0100_0000_01b3
        var h = hash
        let done: Void? = value.utf8.withContiguousStorageIfAvailable { bytes in
            for byte in bytes { h = (h ^ UInt64(byte)) &* prime }
        }
        if done == nil {
            for byte in value.utf8 { h = (h ^ UInt64(byte)) &* prime }
        }
        hash = (h ^ 0xff) &* prime
    }

    @inlinable
    @inline(__always)
    static func finish(_ hash: UInt64) -> UInt64 {
        var h = hash
        h ^= h >> 33
        h &*= 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h &*= 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return h
    }

    static func of(_ values: [String]) -> UInt64 {
        var h = seed
        for value in values { combine(&h, value) }
        return finish(h)
    }
}
