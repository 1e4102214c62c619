// The floor of the swift-distributed-tracing paths that TracingBenchmarks ("bridge: …") and
// OTelPeerBenchmarks measure (TracingAPIWorkload): the same calls with the library's own
// `NoOpTracer` bootstrapped. What these rows cost, every tracer pays before it does anything
// (finding the bootstrapped tracer, the task-local context, converting attribute values); a
// tracer's own cost is its row minus this one.
import Benchmark
import Tracing
import TracingAPIWorkload

let bootstrapNoOp: Void = {
    InstrumentationSystem.bootstrap(NoOpTracer())
}()

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(3))
    tracingAPIBenchmarks { bootstrapNoOp }
}
