import Synchronization

/// An open-addressing hash table from label values to series that readers search without a
/// lock, inside a `ReadSection`. Writers (under their family's lock) fill empty or removed
/// slots, publishing each with a release store, and remove a series by leaving a tombstone in
/// its slot, so that probe sequences that pass it stay intact. When live series and tombstones
/// fill half the slots the family builds a fresh table and retires this one; a retired table,
/// like a removed series, is freed only after a grace period (`ReadSection.synchronize()`),
/// since a reader may still be inside it.
///
/// Slots hold unretained series pointers: the family's list of series owns them.
@usableFromInline
final class SeriesTable: @unchecked Sendable {
    @usableFromInline let mask: Int
    @usableFromInline let slots: UnsafeMutablePointer<Atomic<UInt>>
    /// Live series in the table.
    private(set) var count = 0
    /// Slots that held a series that was removed.
    private(set) var tombstones = 0

    /// The value of a slot whose series was removed: never a pointer (pointers are aligned).
    @usableFromInline static var tombstone: UInt { 1 }

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

    /// Whether one more series fits without passing half the slots.
    var hasRoomForOneMore: Bool { (count + tombstones + 1) * 2 <= capacity }

    /// The series whose hash is `hash` and that `matches` accepts, or nil.
    @inlinable
    @inline(__always)
    func find(_ hash: UInt64, _ matches: (Series) -> Bool) -> UnsafeRawPointer? {
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let raw = slots[i].load(ordering: .acquiring)
            if raw == 0 { return nil }
            if raw != Self.tombstone {
                let pointer = UnsafeRawPointer(bitPattern: raw).unsafelyUnwrapped
                let found = Unmanaged<Series>.fromOpaque(pointer)._withUnsafeGuaranteedRef {
                    $0.labelHash == hash && matches($0)
                }
                if found { return pointer }
            }
            i = (i &+ 1) & mask
        }
    }

    /// Puts `series` in the first free or removed slot of its probe sequence. Writers only, and
    /// only for a series the table does not hold.
    func insert(_ series: Series) {
        var i = Int(truncatingIfNeeded: series.labelHash) & mask
        while true {
            let raw = slots[i].load(ordering: .relaxed)
            if raw == 0 { break }
            if raw == Self.tombstone {
                tombstones -= 1
                break
            }
            i = (i + 1) & mask
        }
        slots[i].store(UInt(bitPattern: Unmanaged.passUnretained(series).toOpaque()), ordering: .releasing)
        count += 1
    }

    /// Leaves a tombstone where `series` was. Writers only.
    func remove(_ series: Series) {
        let wanted = UInt(bitPattern: Unmanaged.passUnretained(series).toOpaque())
        var i = Int(truncatingIfNeeded: series.labelHash) & mask
        while true {
            let raw = slots[i].load(ordering: .relaxed)
            if raw == 0 { return }
            if raw == wanted {
                slots[i].store(Self.tombstone, ordering: .releasing)
                count -= 1
                tombstones += 1
                return
            }
            i = (i + 1) & mask
        }
    }
}

/// FNV-1a over each label value's UTF-8 with a 0xFF separator (a byte UTF-8 never holds), then
/// MurmurHash3's finaliser so that the low bits, which pick the slot, are well mixed.
@usableFromInline
package enum LabelHash {
    @inlinable
    package static var seed: UInt64 { 0xcbf2_9ce4_8422_2325 }

    @inlinable
    @inline(__always)
    package static func combine(_ hash: inout UInt64, _ value: String) {
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
    package static func finish(_ hash: UInt64) -> UInt64 {
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
