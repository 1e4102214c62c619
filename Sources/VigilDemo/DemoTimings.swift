/// The timings of the demo's story: how often the translation backend goes down, how soon its
/// breaker tries again, and how the hungry child's memory swings. `fast` is for tests and for a
/// quick look that cannot wait a minute.
public struct DemoTimings: Sendable {
    /// One turn of the backend's story: up for a quarter of it, then down for `outage`, then up.
    public var cycle: Duration
    /// How long the backend stays down in each cycle.
    public var outage: Duration
    /// How long the breaker stays open before it lets a probe through.
    public var breakerOpenTimeout: Duration
    /// How long the hungry child holds each of its two sizes.
    public var hungryChildPeriod: Duration

    public init(cycle: Duration, outage: Duration, breakerOpenTimeout: Duration, hungryChildPeriod: Duration) {
        self.cycle = cycle
        self.outage = outage
        self.breakerOpenTimeout = breakerOpenTimeout
        self.hungryChildPeriod = hungryChildPeriod
    }

    /// A minute a cycle: slow enough to watch in Grafana.
    public static let normal = DemoTimings(cycle: .seconds(60), outage: .seconds(20), breakerOpenTimeout: .seconds(10), hungryChildPeriod: .seconds(20))
    /// The breaker and the memory limit flip within seconds.
    public static let fast = DemoTimings(cycle: .seconds(16), outage: .seconds(6), breakerOpenTimeout: .seconds(2), hungryChildPeriod: .seconds(6))
}
