#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A family's series in exposition order, laid out for a scrape: the `name{labels} ` prefix of
/// every line copied side by side into one buffer, and the series as unretained pointers in
/// one array. Series are allocated wherever the heap puts them, among the host's other objects;
/// reading each one's prefix array as well as its value cost two cache misses a line. Here the
/// prefixes stream from one buffer and only the value is read from the series, in batches that
/// let the processor fetch many series at once.
///
/// Built under the family's lock when a scrape finds the series changed, and kept until they
/// change again. It owns its series (`series`), so a removal during a scrape frees nothing the
/// scrape still reads.
final class RenderPlan: @unchecked Sendable {
    /// Sorted by label values, the overflow series last.
    let series: [Series]
    /// The same series, unretained, so that reading them writes no reference count.
    let pointers: UnsafeMutablePointer<Unmanaged<Series>>
    /// Every series' `linePrefix`, one after the other.
    let prefixes: UnsafeMutablePointer<UInt8>
    /// Where each series' prefix starts in `prefixes`; one more entry than series, the end.
    let offsets: UnsafeMutablePointer<Int>

    init(_ series: [Series]) {
        self.series = series
        let count = series.count
        pointers = .allocate(capacity: max(count, 1))
        offsets = .allocate(capacity: count + 1)
        var total = 0
        for (i, s) in series.enumerated() {
            (pointers + i).initialize(to: Unmanaged.passUnretained(s))
            (offsets + i).initialize(to: total)
            total += s.linePrefix.count
        }
        (offsets + count).initialize(to: total)
        prefixes = .allocate(capacity: max(total, 1))
        for (i, s) in series.enumerated() {
            s.linePrefix.withUnsafeBufferPointer { bytes in
                guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
                memcpy(prefixes + offsets[i], source, bytes.count)
            }
        }
    }

    deinit {
        pointers.deallocate()
        offsets.deallocate()
        prefixes.deallocate()
    }

    var count: Int { series.count }

    /// The line prefix of series `i`.
    @inline(__always)
    func prefix(_ i: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: prefixes + offsets[i], count: offsets[i &+ 1] &- offsets[i])
    }

    /// Series `i`, which the plan keeps alive, as `S` without touching its reference count.
    @inline(__always)
    func series<S: Series>(_ i: Int, as type: S.Type) -> Unmanaged<S> {
        Unmanaged<S>.fromOpaque(pointers[i].toOpaque())
    }
}
