import VigilSupport

/// Holds every request to an endpoint back while its server has asked to wait: after a 429 or
/// 503 (or 502, 504) with `Retry-After`, nothing is sent to that endpoint before the delay has
/// passed, whatever batch or push it carries. `RetryPolicy` waits here before every attempt.
///
/// An endpoint is the URL's scheme, host, port and path (`EndpointThrottle.key(for:)`): the OTLP
/// trace and metric paths of one collector are throttled apart, as the collector answers for
/// each; exporters that send to the same URL share one hold. The process shares one throttle
/// (`shared`), so two exporters aimed at one endpoint honour each other's `Retry-After`.
///
/// A hold only ever grows: a later answer asking for less does not shorten it.
public final class EndpointThrottle: Sendable {
    /// The process's throttle, used by every push client unless a test passes its own.
    public static let shared = EndpointThrottle()

    /// Monotonic seconds before which nothing goes to each endpoint.
    private let holds = Locked<[String: Double]>([:])
    private let now: @Sendable () -> Double

    /// - Parameter now: a monotonic clock in seconds (tests pass a fake one).
    public init(now: @escaping @Sendable () -> Double = SystemClock.monotonicSeconds) {
        self.now = now
    }

    /// Holds `url`'s endpoint for `delay` from now (or longer, if it is already held longer).
    public func hold(_ url: String, for delay: Duration) {
        guard delay > .zero else { return }
        let until = now() + delay.seconds
        let key = Self.key(for: url)
        holds.withLock { holds in
            holds[key] = max(holds[key] ?? 0, until)
        }
    }

    /// How long `url`'s endpoint is still held; nil when a request may go now. Expired holds are
    /// forgotten here, so the table holds only endpoints that are throttled.
    public func remaining(_ url: String) -> Duration? {
        let key = Self.key(for: url)
        let time = now()
        return holds.withLock { holds -> Duration? in
            guard let until = holds[key] else { return nil }
            guard until > time else {
                holds[key] = nil
                return nil
            }
            return .seconds(until - time)
        }
    }

    /// The monotonic clock the holds are measured on.
    func clock() -> Double { now() }

    /// `scheme://host:port/path`: the URL without credentials, query or fragment, the scheme and
    /// host lowercased and the default port made explicit, so that spellings of one endpoint
    /// share a hold. A URL that does not parse is its own key.
    static func key(for url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return url }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        var rest = url[schemeEnd.upperBound...]
        if let end = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<slash]
        let path = rest[slash...].isEmpty ? "/" : String(rest[slash...])
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var host = authority.lowercased()
        // A port is what follows the last colon, unless that colon is inside an IPv6 literal.
        let hasPort = host.lastIndex(of: ":").map { colon in !host[colon...].contains("]") } ?? false
        if !hasPort { host += scheme == "https" ? ":443" : ":80" }
        return scheme + "://" + host + path
    }
}
