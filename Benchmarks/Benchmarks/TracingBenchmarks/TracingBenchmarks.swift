// The cost of tracing: starting and ending spans, observing by name, the swift-distributed-tracing
// bridge as users call it, and encoding and compressing batches. Figures to quote are ratios to
// "counter increment (floor)" and "clock read (floor)" of the same run, and, for the "bridge: …"
// rows, to the rows of the same names in OTelPeerBenchmarks (swift-otel) and
// TracingAPIFloorBenchmarks (the library's NoOpTracer: what any tracer pays on that API).
import Benchmark
#if canImport(Glibc)
import Glibc
#endif
import enum Instrumentation.InstrumentationSystem
import Vigil
import VigilTracingBridge
import TracingAPIWorkload

/// Takes batches and throws them away, so that only the span path is measured.
struct DiscardingExporter: SpanExporter {
    func export(_ batch: [SpanData]) async -> SpanExportResult { .success }
    func shutdown() async {}
}

func makeTracer() -> Tracer {
    var config = BatchSpanProcessor.Configuration()
    config.maxQueueSize = 1 << 20
    config.maxExportBatchSize = 512
    config.scheduleDelay = .milliseconds(100)
    return Tracer(resource: TelemetryResource.detect(serviceName: "bench"),
                  processor: BatchSpanProcessor(exporter: DiscardingExporter(), configuration: config))
}

func makeBatch(_ count: Int) -> [SpanData] {
    let tracer = Tracer(resource: TelemetryResource(attributes: []), processor: BatchSpanProcessor(exporter: DiscardingExporter()))
    return (0..<count).map { i in
        let span = tracer.startSpan("phase-\(i % 8)", kind: .internal, attributes: [
            Attribute("vigil.plugin", .string("plugin-\(i % 16)")), Attribute("vigil.phase", .string("phase-\(i % 8)")),
            Attribute("items", .int(Int64(i))),
        ])
        span.end()
        return span.snapshot
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(3))
    instrumentBenchmarks()
    bridgeBenchmarks()

    Benchmark("span start + end, 2 attributes", configuration: .init(scalingFactor: .kilo)) { benchmark, tracer in
        for _ in benchmark.scaledIterations {
            let span = tracer.startSpan("phase", attributes: [Attribute("vigil.plugin", "ocr"), Attribute("vigil.phase", "tokenize")])
            span.end()
        }
    } setup: {
        makeTracer()
    }

    Benchmark("parent with one child", configuration: .init(scalingFactor: .kilo)) { benchmark, tracer in
        for _ in benchmark.scaledIterations {
            tracer.withSpan("plugin") { _ in
                tracer.withSpan("phase") { _ in }
            }
        }
    } setup: {
        makeTracer()
    }

    Benchmark("OTLP protobuf encoding, 512 spans", configuration: .init(metrics: [.wallClock, .mallocCountTotal, .throughput])) { benchmark, batch in
        for _ in benchmark.scaledIterations {
            blackHole(OTLPProtobuf.encode(batch, resource: TelemetryResource.detect(serviceName: "bench")))
        }
    } setup: {
        makeBatch(512)
    }

    Benchmark("OTLP protobuf encode + gzip, 512 spans") { benchmark, batch in
        for _ in benchmark.scaledIterations {
            blackHole(try Gzip.compress(OTLPProtobuf.encode(batch, resource: TelemetryResource.detect(serviceName: "bench"))))
        }
    } setup: {
        let batch = makeBatch(512)
        let plain = OTLPProtobuf.encode(batch, resource: TelemetryResource.detect(serviceName: "bench"))
        let compressed = try Gzip.compress(plain)
        print("512-span batch: \(plain.count) bytes of protobuf, \(compressed.count) bytes gzipped")
        return batch
    }
}

// MARK: Instrumentation: an observed phase over a bare call, and the breaker's closed path.

struct Increment: Phase {
    var name: String { "increment" }
    func execute(_ input: Int) async throws -> Int { input &+ 1 }
}

let instrumentBenchmarks: @Sendable () -> Void = {
    let perCall = Benchmark.Configuration(metrics: [.wallClock, .mallocCountTotal], scalingFactor: .kilo, maxDuration: .seconds(3))

    // The yardstick the targets are expressed in: one counter increment (one atomic add).
    Benchmark("counter increment (floor)", configuration: perCall) { benchmark, counter in
        for _ in benchmark.scaledIterations { counter.inc() }
        blackHole(counter)
    } setup: {
        try Registry().counter("bench_total", help: "B.")
    }

    // The other yardstick: one reading of the realtime clock (a vDSO call; under a hypervisor it can
    // cost several counter increments). A span reads it at its start and its end, an observed
    // phase reads the monotonic clock (the same cost) at both ends.
    Benchmark("clock read (floor)", configuration: perCall) { benchmark in
        var ts = timespec()
        var total = 0
        for _ in benchmark.scaledIterations {
            clock_gettime(CLOCK_REALTIME, &ts)
            total &+= ts.tv_nsec
        }
        blackHole(total)
    }

    // README's API for code that is not a Phase, called as a host calls it: by name, every time.
    Benchmark("observe by name, metrics only", configuration: perCall) { benchmark, observer in
        for _ in benchmark.scaledIterations {
            try await observer.observe(plugin: "index", phase: "fetch") {}
        }
    } setup: {
        try PluginObserver(registry: Registry())
    }

    Benchmark("observe by name, traced", configuration: perCall) { benchmark, observer in
        for _ in benchmark.scaledIterations {
            try await observer.observe(plugin: "index", phase: "fetch") {}
        }
    } setup: {
        try PluginObserver(registry: Registry(), tracer: makeTracer())
    }

    Benchmark("phase, bare call", configuration: perCall) { benchmark in
        let phase = Increment()
        var x = 0
        for _ in benchmark.scaledIterations { x = try await phase.execute(x) }
        blackHole(x)
    }

    Benchmark("phase, observed, tracing off", configuration: perCall) { benchmark, phase in
        var x = 0
        for _ in benchmark.scaledIterations { x = try await phase.execute(x) }
        blackHole(x)
    } setup: {
        Increment().observed(plugin: "bench", by: try PluginObserver(registry: Registry()))
    }

    Benchmark("phase, observed, tracing on", configuration: perCall) { benchmark, phase in
        var x = 0
        for _ in benchmark.scaledIterations { x = try await phase.execute(x) }
        blackHole(x)
    } setup: {
        Increment().observed(plugin: "bench", by: try PluginObserver(registry: Registry(), tracer: makeTracer()))
    }

    Benchmark("breaker, closed path", configuration: perCall) { benchmark, breaker in
        var x = 0
        for _ in benchmark.scaledIterations { x = try breaker.run { x &+ 1 } }
        blackHole(x)
    } setup: {
        try CircuitBreaker(plugin: "bench", name: "b", registry: Registry())
    }

    Benchmark("breaker, bare closure", configuration: perCall) { benchmark in
        var x = 0
        let body: () throws -> Int = { x &+ 1 }
        for _ in benchmark.scaledIterations { x = try body() }
        blackHole(x)
    }
}

// MARK: The swift-distributed-tracing bridge, through InstrumentationSystem as instrumented libraries call it.

/// InstrumentationSystem can be bootstrapped once per process: the first bridge benchmark does it.
let bootstrapVigilTracer: Void = {
    InstrumentationSystem.bootstrap(VigilTracer(makeTracer()))
}()

let bridgeBenchmarks: @Sendable () -> Void = {
    tracingAPIBenchmarks { bootstrapVigilTracer }
}
