/// Decides whether a new span is recorded and exported.
public indirect enum Sampler: Sendable, Equatable {
    case alwaysOn
    case alwaysOff
    /// Keeps this share of traces, decided by the trace id alone so that every service keeps
    /// or drops the same traces.
    case traceIDRatio(Double)
    /// Follows the parent's sampled flag; `root` decides for spans without a parent. The default.
    case parentBased(root: Sampler)

    public static let `default` = Sampler.parentBased(root: .alwaysOn)

    public func shouldSample(traceID: TraceID, parent: SpanContext?) -> Bool {
        switch self {
        case .alwaysOn:
            return true
        case .alwaysOff:
            return false
        case .traceIDRatio(let ratio):
            guard ratio > 0 else { return false }
            guard ratio < 1 else { return true }
            // The low 56 bits are the random part of a W3C trace id (Trace Context Level 2).
            let threshold = UInt64(ratio * 0x1p56)
            return traceID.low & 0x00FF_FFFF_FFFF_FFFF < threshold
        case .parentBased(let root):
            if let parent, parent.isValid { return parent.isSampled }
            return root.shouldSample(traceID: traceID, parent: nil)
        }
    }
}
