// swift-otel 1.6.0 on the swift-distributed-tracing paths TracingBenchmarks measures for VigilTracer
// ("bridge: …", defined once in TracingAPIWorkload), so the targets' rows pair up.
// InstrumentationSystem is process-global, which is why the peer lives in an executable of its own.
import Benchmark
import OTel
import Tracing
import TracingAPIWorkload

/// Bootstraps swift-otel's tracer once per process: the default (always-on) sampler, the batch span
/// processor, and the `none` exporter, so spans are processed as in production but go nowhere
/// (no collector, no network). Its background service runs for the life of the process.
let bootstrapOTel: Void = {
    var configuration = OTel.Configuration.default
    configuration.serviceName = "bench"
    configuration.logs.enabled = false
    configuration.metrics.enabled = false
    configuration.traces.exporter = .none
    do {
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        let service = backend.service
        Task.detached { try? await service.run() }
    } catch {
        print("swift-otel bootstrap failed: \(error)")
    }
}()

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(3))
    tracingAPIBenchmarks { bootstrapOTel }
}
