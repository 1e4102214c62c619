// The swift-distributed-tracing paths measured for every tracer, as instrumented libraries call
// them: Vigil's bridge (TracingBenchmarks), swift-otel (OTelPeerBenchmarks) and the library's own
// NoOpTracer (TracingAPIFloorBenchmarks). One definition, so that the three run the same calls and
// their rows, of the same names, pair up; one executable per tracer, because InstrumentationSystem
// can be bootstrapped once per process.
import Benchmark
import Tracing

/// Registers the "bridge: …" benchmarks; `bootstrap` installs the tracer (once; it runs before
/// each of them).
public func tracingAPIBenchmarks(bootstrap: @escaping @Sendable () -> Void) {
    let perCall = Benchmark.Configuration(metrics: [.wallClock, .mallocCountTotal], scalingFactor: .kilo, maxDuration: .seconds(3))

    Benchmark("bridge: withSpan", configuration: perCall) { benchmark in
        for _ in benchmark.scaledIterations {
            withSpan("op") { _ in }
        }
    } setup: {
        bootstrap()
    }

    Benchmark("bridge: startSpan + 2 attributes + end", configuration: perCall) { benchmark in
        for _ in benchmark.scaledIterations {
            let span = startSpan("op")
            span.attributes["vigil.plugin"] = "ocr"
            span.attributes["vigil.phase"] = "tokenize"
            span.end()
        }
    } setup: {
        bootstrap()
    }
}
