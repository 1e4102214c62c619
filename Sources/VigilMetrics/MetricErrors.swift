/// Counts samples that were dropped instead of crashing the host, by reason; the registry
/// exposes them as `vigil_metric_errors_total{reason}`.
public final class MetricErrors: Sendable {
    /// Why a sample was dropped.
    public enum Reason: Int, CaseIterable, Sendable {
        /// A counter was asked to go down.
        case negativeIncrement
        /// A counter increment was NaN or infinite.
        case nonFiniteIncrement
        /// A histogram observation was NaN.
        case nanObservation
        /// `labels(…)` was given more or fewer values than the family has label names.
        case labelCountMismatch
        /// An exemplar's labels were invalid or over the OpenMetrics size limit.
        case invalidExemplar
        /// A collector returned a family it did not describe, or a sample that does not fit it.
        case invalidCollectedSample
        /// A bridge (swift-metrics) asked for a metric whose name or labels the registry refused;
        /// its samples go nowhere.
        case registrationConflict

        /// The `reason` label value.
        public var label: String {
            switch self {
            case .negativeIncrement: "negative_increment"
            case .nonFiniteIncrement: "non_finite_increment"
            case .nanObservation: "nan_observation"
            case .labelCountMismatch: "label_count_mismatch"
            case .invalidExemplar: "invalid_exemplar"
            case .invalidCollectedSample: "invalid_collected_sample"
            case .registrationConflict: "registration_conflict"
            }
        }
    }

    private let counts = AtomicCounters(count: Reason.allCases.count)

    init() {}

    deinit { counts.deallocate() }

    @usableFromInline
    func record(_ reason: Reason) {
        counts.add(1, at: reason.rawValue)
    }

    /// Counts a metric a bridge could not register.
    public func recordRegistrationConflict() {
        record(.registrationConflict)
    }

    /// How many samples were dropped for `reason`.
    public func count(_ reason: Reason) -> UInt64 {
        counts.load(at: reason.rawValue)
    }
}
