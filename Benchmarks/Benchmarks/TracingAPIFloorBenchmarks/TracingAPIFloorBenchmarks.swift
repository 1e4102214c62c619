// The floor of the swift-distributed-tracing paths that TracingBenchmarks ("bridge: …") and
// OTelPeerBenchmarks measure: the same calls, the same names, with the library's own `NoOpTracer`
// bootstrapped. What these rows cost, every tracer pays before it does anything (finding the
// bootstrapped tracer, the task-local context, converting attribute values); a tracer's own cost is
// its row minus this one. A separate executable because InstrumentationSystem is process-global.
import Benchmark
import Tracing

let bootstrapNoOp: Void = {
    InstrumentationSystem.bootstrap(NoOpTracer())
}()

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(3))
    let perCall = Benchmark.Configuration(metrics: [.wallClock, .mallocCountTotal], scalingFactor: .kilo, maxDuration: .seconds(3))

    Benchmark("bridge: withSpan", configuration: perCall) { benchmark in
        for _ in benchmark.scaledIterations {
            withSpan("op") { _ in }
        }
    } setup: {
        bootstrapNoOp
    }

    Benchmark("bridge: startSpan + 2 attributes + end", configuration: perCall) { benchmark in
        for _ in benchmark.scaledIterations {
            let span = startSpan("op")
            span.attributes["vigil.plugin"] = "ocr"
            span.attributes["vigil.phase"] = "tokenize"
            span.end()
        }
    } setup: {
        bootstrapNoOp
    }
}
