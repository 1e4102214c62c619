import VigilContract
import VigilMetrics

/// The metrics server's own metrics, registered from the contract: requests by path and status,
/// scrape render time, connections refused by the limits or closed at a deadline, basic-auth
/// refusals, and (with a web config file) whether its last reading was applied.
struct ServerMetrics: Sendable {
    let requests: CounterFamily
    let duration: Histogram
    let rejectedTotal: Counter
    let rejectedPerClient: Counter
    let handshakeTimeouts: Counter
    let headTimeouts: Counter
    let wrongCredentials: Counter
    let throttled: Counter
    let busy: Counter
    /// Registered only when the server watches a web config file.
    let webConfigReloadSuccessful: Gauge?
    let webConfigCostlyHashes: Gauge?

    init(registry: Registry, watchesWebConfig: Bool) throws {
        requests = try registry.register(VigilMetric.httpRequests)
        duration = try registry.register(VigilMetric.scrapeDuration).labels()
        let rejected = try registry.register(VigilMetric.httpRejectedConnections)
        rejectedTotal = rejected.labels("total")
        rejectedPerClient = rejected.labels("per_client")
        let timedOut = try registry.register(VigilMetric.httpTimedOutConnections)
        handshakeTimeouts = timedOut.labels("tls_handshake")
        headTimeouts = timedOut.labels("request_head")
        let auth = try registry.register(VigilMetric.httpAuthFailures)
        wrongCredentials = auth.labels("wrong_credentials")
        throttled = auth.labels("throttled")
        busy = auth.labels("busy")
        if watchesWebConfig {
            webConfigReloadSuccessful = try registry.register(VigilMetric.webConfigLastReloadSuccessful).labels()
            webConfigCostlyHashes = try registry.register(VigilMetric.webConfigCostlyHashes).labels()
        } else {
            webConfigReloadSuccessful = nil
            webConfigCostlyHashes = nil
        }
    }
}
