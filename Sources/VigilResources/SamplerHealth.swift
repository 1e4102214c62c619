import VigilContract
import VigilMetrics
import VigilSupport

/// The sampler's own health, as node_exporter reports its collectors': how long each sweep took
/// (`vigil_sampler_sweep_duration_seconds`) and when the last one finished
/// (`vigil_sampler_last_sweep_timestamp_seconds`), beside the interval it should keep
/// (`vigil_sampler_interval_seconds`). A sampler stalled by anything (a /proc read that hangs,
/// a lock, a starved task) stops moving the timestamp while the plugin figures keep their last
/// values; the `VigilSamplingStalled` alert compares the two.
struct SamplerHealth: Sendable {
    let duration: Histogram
    let lastSweep: Gauge

    init(registry: Registry, interval: Duration) throws(RegistrationError) {
        duration = try registry.register(VigilMetric.samplerSweepDuration).labels()
        lastSweep = try registry.register(VigilMetric.samplerLastSweep).labels()
        try registry.register(VigilMetric.samplerInterval).labels().set(interval.seconds)
    }

    func sweepFinished(seconds: Double) {
        duration.observe(max(0, seconds))
        lastSweep.set(SystemClock.wallSeconds())
    }
}
