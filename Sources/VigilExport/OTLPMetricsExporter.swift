import VigilContract
import VigilMetrics
import VigilOTLP
import VigilSupport
import VigilTracing

/// Pushes a registry to an OpenTelemetry collector over OTLP/HTTP (`POST /v1/metrics`), on an
/// interval and once more on shutdown, for teams whose metrics backend is a collector rather
/// than a Prometheus server.
///
/// Each push is what a scrape at that moment shows (`OpenMetricsReader` reads the registry's
/// own OpenMetrics rendering): counters as cumulative monotonic Sums, gauges as Gauges,
/// histograms as cumulative explicit-bucket Histograms with their exemplars, named and united
/// as the OpenTelemetry–Prometheus compatibility specification maps them (`OTLPMetricNames`).
/// Labels become data point attributes; the resource and scope are the traces' ones.
///
/// What is retried, and how long it waits, is `RetryPolicy`'s rule set; a `Retry-After` holds
/// the endpoint for every later push too (`EndpointThrottle`). A `partial_success` answer counts
/// as delivered.
public final class OTLPMetricsExporter: Sendable {
    /// Where, how and how often metrics go.
    public let configuration: OTLPMetricsConfiguration
    let registry: Registry
    let resource: TelemetryResource
    let scope: InstrumentationScope
    let client: HTTPClient
    let pushes: CounterFamily?
    let throttled: Counter?
    let throttle: EndpointThrottle
    /// The start time of series that have no `_created` (collected ones), when the registry has
    /// no `process_start_time_seconds`: when this exporter was made.
    let defaultStartUnixNano = SystemClock.wallNanoseconds()

    /// - Parameters:
    ///   - registry: what is pushed; `vigil_push_total{target="otlp_metrics"}` and
    ///     `vigil_push_throttled_seconds_total{target="otlp_metrics"}` are counted there too.
    ///   - throttle: where the collector's `Retry-After` holds are kept (the process's, by default).
    public init(configuration: OTLPMetricsConfiguration, registry: Registry, resource: TelemetryResource,
                scope: InstrumentationScope = InstrumentationScope(), client: HTTPClient = HTTPClient(),
                throttle: EndpointThrottle = .shared) {
        self.configuration = configuration
        self.registry = registry
        self.resource = resource
        self.scope = scope
        self.client = client
        self.throttle = throttle
        self.pushes = try? registry.register(VigilMetric.pushes)
        self.throttled = (try? registry.register(VigilMetric.pushThrottled))?.labels("otlp_metrics")
        for result in VigilMetric.Values.pushResult { _ = pushes?.labels("otlp_metrics", result) }
    }

    /// The registry as it is now, in OTLP terms.
    public func collect() -> [MetricData] {
        OpenMetricsReader.metrics(from: registry.render(.openMetrics, includeCreated: true),
                                  timeUnixNano: SystemClock.wallNanoseconds(), defaultStartUnixNano: defaultStartUnixNano)
    }

    func request(for metrics: [MetricData]) -> HTTPRequest {
        let body = configuration.encoding == .protobuf
            ? OTLPMetricsProtobuf.encode(metrics, resource: resource, scope: scope)
            : OTLPMetricsJSON.encode(metrics, resource: resource, scope: scope)
        return HTTPRequest(otlp: body, to: configuration.endpoint, configuration)
    }

    /// Pushes the registry once, retrying as `configuration.retry` says, all within
    /// `configuration.exportTimeout`. Cancelling the task abandons the push at once.
    @discardableResult
    public func push() async -> Result<Void, PushError> {
        await push(retry: configuration.retry, within: configuration.exportTimeout)
    }

    private func push(retry: RetryPolicy, within limit: Duration) async -> Result<Void, PushError> {
        let request = request(for: collect())
        let result = await withTaskGroup(of: Result<Void, PushError>?.self) { group in
            group.addTask { [client, throttle, throttled] in
                await retry.send(request, with: client, throttle: throttle, throttled: throttled).map { _ in () }
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil  // the time limit: cancels the push, whose own result follows
            }
            var outcome: Result<Void, PushError>?
            while let next = await group.next() {
                group.cancelAll()
                if let next { outcome = next }
            }
            return outcome ?? .failure(PushError(method: "POST", url: Redaction.url(request.url), attempts: 0, cause: .abandoned))
        }
        pushes?.labels("otlp_metrics", (try? result.get()) != nil ? "success" : "failure").inc()
        return result
    }

    /// Pushes every `configuration.interval` until the task is cancelled, then once more, so that
    /// the last values reach the collector. Cancelling abandons a push in flight at once. The last
    /// push is one attempt, with no retries, in a task of its own, which that cancellation does
    /// not reach; it is abandoned in turn after `finalPushTimeout` (give it what is left of a
    /// shutdown's grace period), read when it starts. It too waits for a hold on the endpoint
    /// (`EndpointThrottle`): a collector that asked to wait longer than that never gets it.
    public func run(finalPushTimeout: @autoclosure @escaping @Sendable () -> Duration = .seconds(10),
                    onFailure: (@Sendable (PushError) -> Void)? = nil) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: configuration.interval) } catch { break }
            if case .failure(let error) = await push() { onFailure?(error) }
        }
        var once = configuration.retry
        once.maxAttempts = 1
        let limit = min(finalPushTimeout(), configuration.exportTimeout)
        let outcome = await withCancellation(after: limit) { [once] in await self.push(retry: once, within: limit) }
        if case .failure(let error) = outcome { onFailure?(error) }
    }
}
