import VigilContract
import VigilMetrics

/// The metrics server's own metrics, registered from the contract: requests by path and status,
/// scrape render time, and connections refused past `maxConnections`.
struct ServerMetrics: Sendable {
    let requests: CounterFamily
    let duration: Histogram
    let rejectedConnections: Counter

    init(registry: Registry) throws {
        requests = try registry.register(VigilMetric.httpRequests)
        duration = try registry.register(VigilMetric.scrapeDuration).labels()
        rejectedConnections = try registry.register(VigilMetric.httpRejectedConnections).labels()
    }
}
