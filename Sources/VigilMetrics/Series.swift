import VigilSupport
import Synchronization

/// What every series holds: its label values, the same values rendered once for the
/// exposition, and where it reports bad samples. Counter, Gauge and Histogram are its kinds.
public class Series: @unchecked Sendable {
    /// The label values, in the order of the family's label names.
    public let labelValues: [String]
    @usableFromInline let labelHash: UInt64
    /// `name="value",…` escaped for the exposition formats, without braces.
    let renderedLabels: [UInt8]
    /// `sample_name{labels} `: all of a counter's or gauge's line but its value, the same in
    /// both formats. Empty for histograms, whose lines each add a suffix and `le`.
    let linePrefix: [UInt8]
    @usableFromInline let errors: MetricErrors
    /// When the series was created, in seconds since the epoch (OpenMetrics `_created`).
    public let created: Double
    /// Set when the series leaves its family; a handle to it keeps working, unexported.
    let removed = Atomic<Bool>(false)

    /// Whether the series was removed from its family (and so is no longer exported).
    package var isRemoved: Bool { removed.load(ordering: .acquiring) }

    /// - Parameter sampleName: the name of the series' one sample line, if it has only one.
    init(labelNames: [String], labelValues: [String], hash: UInt64, errors: MetricErrors, sampleName: String?) {
        self.labelValues = labelValues
        self.labelHash = hash
        self.errors = errors
        self.created = SystemClock.wallSeconds()
        var rendered: [UInt8] = []
        Escaping.appendLabels(names: labelNames, values: labelValues, to: &rendered)
        self.renderedLabels = rendered
        var prefix: [UInt8] = []
        if let sampleName {
            prefix.append(contentsOf: sampleName.utf8)
            if !rendered.isEmpty {
                prefix.append(UInt8(ascii: "{"))
                prefix.append(contentsOf: rendered)
                prefix.append(UInt8(ascii: "}"))
            }
            prefix.append(UInt8(ascii: " "))
        }
        self.linePrefix = prefix
    }

    /// Writes this series' samples; each kind overrides it.
    func write(_ family: FamilyLayout, to writer: ExpositionWriter) {}

    /// Writes the samples of every series of `plan`, all of this kind. Kinds whose lines are
    /// one prefix and one value override it to read the values in batches.
    class func writeAll(_ plan: RenderPlan, _ family: FamilyLayout, to writer: ExpositionWriter) {
        for i in 0..<plan.count {
            plan.series(i, as: Series.self)._withUnsafeGuaranteedRef { $0.write(family, to: writer) }
        }
    }

    /// How many series `writeAll` reads before it writes their lines: enough cache misses in
    /// flight at once to hide most of their latency, few enough to stay in registers and L1.
    static var renderBatch: Int { 32 }

    /// Whether the series' label values are exactly `values`.
    @inlinable
    final func hasLabelValues(_ values: [String]) -> Bool {
        labelValues == values
    }
}

/// The parts of a family the encoders need for every one of its series, rendered once.
struct FamilyLayout: Sendable {
    let descriptor: MetricDescriptor
    /// The sample name bytes: `name` (gauge), `name_total` (counter), `name_bucket` and so on.
    let nameBytes: [UInt8]
    /// For histograms: the `le` values of every bucket, `+Inf` last, in text 0.0.4 form
    /// (`0.5`, `1`) and in the OpenMetrics canonical form (`0.5`, `1.0`).
    let textBounds: [[UInt8]]
    let openMetricsBounds: [[UInt8]]

    init(_ descriptor: MetricDescriptor) {
        self.descriptor = descriptor
        self.nameBytes = Array(descriptor.name.utf8)
        self.textBounds = (descriptor.buckets + [.infinity]).map { Array(NumberFormatting.text($0).utf8) }
        self.openMetricsBounds = (descriptor.buckets + [.infinity]).map {
            Array(NumberFormatting.openMetricsCanonical($0).utf8)
        }
    }
}
