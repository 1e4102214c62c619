#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A growable byte buffer written with memcpy: rendering 100k series is a few million small
/// appends, and `Array.append(contentsOf:)` costs several times a memcpy for each of them.
///
/// It can write into memory it is lent (an array's uninitialised storage), so that the
/// exposition needs no final copy; past the end of that memory it carries on in its own.
final class ByteSink {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var count = 0
    private var capacity: Int
    /// False while `base` is the lent memory, which is not ours to free.
    private var owned: Bool

    init(capacity: Int) {
        self.capacity = max(capacity, 256)
        base = .allocate(capacity: self.capacity)
        owned = true
    }

    /// Writes into `memory` while it has room.
    init(lending memory: UnsafeMutableBufferPointer<UInt8>) {
        if let start = memory.baseAddress, memory.count > 0 {
            base = start
            capacity = memory.count
            owned = false
        } else {
            capacity = 256
            base = .allocate(capacity: capacity)
            owned = true
        }
    }

    deinit { if owned { base.deallocate() } }

    /// Whether every byte so far is in the lent memory.
    var isInLentMemory: Bool { !owned }

    @inline(__always)
    func reserve(_ extra: Int) {
        if count &+ extra > capacity { grow(to: count + extra) }
    }

    private func grow(to needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let fresh = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        fresh.update(from: base, count: count)
        if owned { base.deallocate() }
        owned = true
        base = fresh
        capacity = newCapacity
    }

    @inline(__always)
    func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count &+= 1
    }

    @inline(__always)
    func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        memcpy(base + count, source, bytes.count)
        count &+= bytes.count
    }

    @inline(__always)
    func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    @inline(__always)
    func append(_ string: StaticString) {
        append(UnsafeRawBufferPointer(start: string.utf8Start, count: string.utf8CodeUnitCount))
    }

    func append(_ string: String) {
        var string = string
        string.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// Appends `value` in decimal.
    @inline(__always)
    func append(decimal value: UInt64) {
        if value < 10 { return append(UInt8(ascii: "0") &+ UInt8(value)) }
        reserve(20)
        var digits = 0
        var v = value
        while v > 0 {
            digits &+= 1
            v /= 10
        }
        v = value
        var i = count &+ digits
        while v > 0 {
            i &-= 1
            base[i] = UInt8(ascii: "0") &+ UInt8(v % 10)
            v /= 10
        }
        count &+= digits
    }

    var bytes: [UInt8] { Array(written) }

    var written: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }
}
