import VigilSupport
/// The formats a registry renders, with the Content-Type each is served under.
public enum ExpositionFormat: Sendable, Hashable, CaseIterable {
    /// Prometheus text format 0.0.4.
    case text
    /// OpenMetrics 1.0.0 text.
    case openMetrics

    /// The exact Content-Type header value.
    public var contentType: String {
        switch self {
        case .text: "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    /// Chooses a format from an HTTP `Accept` header the way Prometheus servers expect: the
    /// acceptable media range with the highest `q` wins (ties go to the earlier one); `q=0` rules
    /// a range out; with no header, or nothing we offer acceptable, the answer is text 0.0.4.
    public static func negotiate(accept: String?) -> ExpositionFormat {
        guard let accept, !accept.isEmpty else { return .text }
        var best: (format: ExpositionFormat, q: Double)?
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.trimmed() }
            guard let mediaType = parts.first?.lowercased() else { continue }
            var q = 1.0
            var version: Substring?
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmed() }
                guard pair.count == 2 else { continue }
                switch pair[0].lowercased() {
                case "q": q = Double(pair[1]).map { min(max($0, 0), 1) } ?? 0
                case "version": version = pair[1]
                default: break
                }
            }
            let format: ExpositionFormat?
            switch mediaType {
            case "application/openmetrics-text":
                // 1.0.0 and its draft 0.0.1 are the versions we write; no version means the newest.
                format = version == nil || version == "1.0.0" || version == "0.0.1" ? .openMetrics : nil
            case "text/plain":
                format = version == nil || version == "0.0.4" ? .text : nil
            case "*/*", "text/*":
                format = .text
            default:
                format = nil
            }
            guard let format, q > 0 else { continue }
            if best == nil || q > best!.q { best = (format, q) }
        }
        return best?.format ?? .text
    }
}
