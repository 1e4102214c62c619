import VigilSupport
import Synchronization

/// Counts observations into buckets with fixed upper bounds, and keeps their sum.
///
/// `observe(_:)` finds the bucket and adds one to it and the value to the sum: lock-free, no
/// allocation. `_count` is the total of the buckets read in the same pass, so it always equals
/// the `+Inf` bucket. Durations are summed in integer nanoseconds, so a timer never loses time to
/// floating-point rounding however long it runs.
public final class Histogram: Series, @unchecked Sendable {
    @usableFromInline let bounds: UnsafeMutablePointer<Double>
    @usableFromInline let boundCount: Int
    /// One counter per bound, then the `+Inf` bucket; not cumulative.
    @usableFromInline let counts: AtomicCounters
    @usableFromInline let sumBits = Atomic<UInt64>(0)
    @usableFromInline let sumNanoseconds = Atomic<Int64>(0)
    /// The latest exemplar of each bucket.
    let exemplarLock = SpinLock()
    nonisolated(unsafe) var exemplars: [Exemplar?]
    /// Set once an exemplar is kept, so that rendering skips the lock for the many that have none.
    let hasExemplars = Atomic<Bool>(false)

    /// The Prometheus client libraries' default bounds, in seconds.
    public static let defaultBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    init(bounds: [Double], labelNames: [String], labelValues: [String], hash: UInt64, errors: MetricErrors) {
        self.boundCount = bounds.count
        self.bounds = .allocate(capacity: max(bounds.count, 1))
        self.bounds.initialize(from: bounds, count: bounds.count)
        self.counts = AtomicCounters(count: bounds.count + 1)
        self.exemplars = Array(repeating: nil, count: bounds.count + 1)
        super.init(labelNames: labelNames, labelValues: labelValues, hash: hash, errors: errors, sampleName: nil)
    }

    deinit {
        bounds.deallocate()
        counts.deallocate()
    }

    /// Records one observation; NaN is dropped and counted as an error.
    @inlinable
    public func observe(_ value: Double) {
        guard !value.isNaN else { return errors.record(.nanObservation) }
        counts.add(1, at: bucketIndex(value))
        sumBits.addDouble(value)
    }

    /// Records one observation of an integer value.
    @inlinable
    public func observe(_ value: Int) {
        observe(Double(value))
    }

    /// Records a duration, in seconds, summing it exactly in nanoseconds.
    @inlinable
    public func observe(_ duration: Duration) {
        _ = record(duration)
    }

    /// Records a duration given in nanoseconds (a difference of two `clock_gettime` readings),
    /// in seconds, summing it exactly: the cheapest way to time something.
    @inlinable
    public func observe(nanoseconds: Int64) {
        _ = record(nanoseconds: nanoseconds)
    }

    /// Counts a duration in its bucket and adds it to the sum; returns the bucket and the seconds.
    @inlinable
    @inline(__always)
    func record(_ duration: Duration) -> (index: Int, seconds: Double) {
        let (seconds, attoseconds) = duration.components
        return record(nanoseconds: seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000)
    }

    @inlinable
    @inline(__always)
    func record(nanoseconds: Int64) -> (index: Int, seconds: Double) {
        let value = Double(nanoseconds) / 1e9
        let index = bucketIndex(value)
        counts.add(1, at: index)
        sumNanoseconds.wrappingAdd(nanoseconds, ordering: .relaxed)
        return (index, value)
    }

    /// Records an observation and keeps `exemplar` (labels such as a trace id) as the exemplar of
    /// the bucket it falls in. Exemplars are written in the OpenMetrics format only.
    public func observe(_ value: Double, exemplar labels: [(name: String, value: String)]) {
        guard !value.isNaN else { return errors.record(.nanObservation) }
        let index = bucketIndex(value)
        counts.add(1, at: index)
        sumBits.addDouble(value)
        keep(Exemplar(labels: labels, value: value, timestamp: SystemClock.wallSeconds()), at: index)
    }

    /// Records a duration and keeps `exemplar` as its bucket's exemplar.
    public func observe(_ duration: Duration, exemplar labels: [(name: String, value: String)]) {
        let (index, value) = record(duration)
        keep(Exemplar(labels: labels, value: value, timestamp: SystemClock.wallSeconds()), at: index)
    }

    /// Records a duration with the span that took it as its bucket's exemplar: the ids are kept
    /// as numbers and written in hex at scrape time, so recording allocates nothing.
    public func observe(_ duration: Duration, traceIDHigh: UInt64, traceIDLow: UInt64, spanID: UInt64) {
        let (seconds, attoseconds) = duration.components
        observe(nanoseconds: seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000,
                traceIDHigh: traceIDHigh, traceIDLow: traceIDLow, spanID: spanID, timeUnixNano: SystemClock.wallNanoseconds())
    }

    /// Records a duration in nanoseconds with the span that took it as its bucket's exemplar,
    /// stamped `timeUnixNano` (the span's end, so that the clock is not read again).
    public func observe(nanoseconds: Int64, traceIDHigh: UInt64, traceIDLow: UInt64, spanID: UInt64, timeUnixNano: UInt64) {
        let (index, value) = record(nanoseconds: nanoseconds)
        let exemplar = Exemplar(traceIDHigh: traceIDHigh, traceIDLow: traceIDLow, spanID: spanID, value: value,
                                timestamp: Double(timeUnixNano / 1_000_000_000) + Double(timeUnixNano % 1_000_000_000) / 1e9)
        exemplarLock.withLock { exemplars[index] = exemplar }
        // Stored once: a store on every observation would keep the line bouncing between
        // the cores that observe and the one that scrapes.
        if !hasExemplars.load(ordering: .relaxed) { hasExemplars.store(true, ordering: .releasing) }
    }

    private func keep(_ exemplar: Exemplar, at index: Int) {
        guard exemplar.isValid else { return errors.record(.invalidExemplar) }
        exemplarLock.withLock { exemplars[index] = exemplar }
        hasExemplars.store(true, ordering: .releasing)
    }

    /// The index of the first bucket whose bound is at least `value`; `boundCount` for `+Inf`.
    @inlinable
    @inline(__always)
    func bucketIndex(_ value: Double) -> Int {
        if boundCount <= 16 {
            var i = 0
            while i < boundCount, bounds[i] < value { i &+= 1 }
            return i
        }
        var low = 0
        var high = boundCount
        while low < high {
            let mid = (low &+ high) >> 1
            if bounds[mid] < value { low = mid &+ 1 } else { high = mid }
        }
        return low
    }

    /// The buckets' upper bounds, without `+Inf`.
    public var upperBounds: [Double] { Array(UnsafeBufferPointer(start: bounds, count: boundCount)) }

    /// A consistent reading: per-bucket counts (not cumulative, `+Inf` last), their total, the sum.
    public var snapshot: (buckets: [UInt64], count: UInt64, sum: Double) {
        var buckets = [UInt64]()
        buckets.reserveCapacity(boundCount + 1)
        var total: UInt64 = 0
        for i in 0...boundCount {
            let n = counts.load(at: i)
            buckets.append(n)
            total &+= n
        }
        return (buckets, total, sum)
    }

    /// How many observations were recorded: the total of the buckets.
    public var observationCount: UInt64 {
        var total: UInt64 = 0
        for i in 0...boundCount { total &+= counts.load(at: i) }
        return total
    }

    /// The sum of all observations.
    public var sum: Double {
        sumBits.doubleValue + Double(sumNanoseconds.load(ordering: .relaxed)) / 1e9
    }

    override func write(_ family: FamilyLayout, to writer: ExpositionWriter) {
        let exemplars = writer.format == .openMetrics && hasExemplars.load(ordering: .acquiring) ? exemplarLock.withLock { self.exemplars } : []
        let bucketName = family.nameBytes
        let bounds = writer.format == .openMetrics ? family.openMetricsBounds : family.textBounds
        var cumulative: UInt64 = 0
        for i in 0...boundCount {
            cumulative &+= counts.load(at: i)
            writer.bucket(
                bucketName, labels: renderedLabels, le: bounds[i], count: cumulative,
                exemplar: exemplars.isEmpty ? nil : exemplars[i])
        }
        writer.sample(bucketName, suffix: "_count", labels: renderedLabels, integer: cumulative)
        writer.sample(bucketName, suffix: "_sum", labels: renderedLabels, value: sum)
        if writer.includeCreated {
            writer.sample(bucketName, suffix: "_created", labels: renderedLabels, value: created)
        }
    }

    /// Checks bounds: non-empty, finite, strictly increasing. A trailing `+Inf` is allowed and
    /// dropped, since every histogram has that bucket.
    static func validatedBounds(_ bounds: [Double], name: String) throws(RegistrationError) -> [Double] {
        var bounds = bounds
        if bounds.last == .infinity { bounds.removeLast() }
        guard !bounds.isEmpty else {
            throw .invalidBuckets(name, reason: "no bounds given (try Histogram.defaultBuckets)")
        }
        for (i, bound) in bounds.enumerated() {
            guard bound.isFinite else {
                throw .invalidBuckets(name, reason: "bound \(i) is \(bound); bounds must be finite (+Inf is implied)")
            }
            if i > 0, bound <= bounds[i - 1] {
                throw .invalidBuckets(name, reason: "bounds must increase strictly, but bound \(i) (\(bound)) follows \(bounds[i - 1])")
            }
        }
        return bounds
    }

    /// `count` bounds starting at `start`, each `factor` times the one before.
    public static func exponentialBuckets(start: Double, factor: Double, count: Int) -> [Double] {
        guard count > 0 else { return [] }
        return (0..<count).reduce(into: [Double]()) { out, i in out.append(i == 0 ? start : out[i - 1] * factor) }
    }

    /// `count` bounds starting at `start`, `width` apart.
    public static func linearBuckets(start: Double, width: Double, count: Int) -> [Double] {
        guard count > 0 else { return [] }
        return (0..<count).map { start + Double($0) * width }
    }
}

/// The histogram a counter or gauge derives part of its value from (`Counter.countObservations(of:)`,
/// `Gauge.subtractObservations(of:)`): a reference set once, read without a lock.
struct ObservedHistogram: ~Copyable, @unchecked Sendable {
    private let pointer = Atomic<UInt>(0)

    init() {}

    deinit {
        let raw = pointer.load(ordering: .acquiring)
        if raw != 0 { Unmanaged<Histogram>.fromOpaque(UnsafeRawPointer(bitPattern: raw).unsafelyUnwrapped).release() }
    }

    var isSet: Bool { pointer.load(ordering: .acquiring) != 0 }

    /// Keeps `histogram`, unless one is kept already.
    func set(_ histogram: Histogram) {
        let raw = UInt(bitPattern: Unmanaged.passRetained(histogram).toOpaque())
        if !pointer.compareExchange(expected: 0, desired: raw, ordering: .acquiringAndReleasing).exchanged {
            Unmanaged<Histogram>.fromOpaque(UnsafeRawPointer(bitPattern: raw).unsafelyUnwrapped).release()
        }
    }

    /// The histogram's observations, or 0 without one.
    var observationCount: UInt64 {
        let raw = pointer.load(ordering: .acquiring)
        guard raw != 0 else { return 0 }
        return Unmanaged<Histogram>.fromOpaque(UnsafeRawPointer(bitPattern: raw).unsafelyUnwrapped)
            ._withUnsafeGuaranteedRef { $0.observationCount }
    }
}
