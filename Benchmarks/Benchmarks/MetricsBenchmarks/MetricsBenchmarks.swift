// Vigil's metrics core beside swift-prometheus 2.4.1, measured in the same run.
// Each pair records the same thing the same way; names start with the library.
import Benchmark
import Foundation
import Prometheus
import Vigil

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        maxDuration: .seconds(3),
        maxIterations: 1_000_000
    )
    let perOperation = Benchmark.Configuration(
        metrics: [.wallClock, .mallocCountTotal], scalingFactor: .mega, maxDuration: .seconds(3))

    // MARK: Counter increment

    Benchmark("Vigil counter increment", configuration: perOperation) { benchmark, counter in
        for _ in benchmark.scaledIterations { counter.inc() }
        blackHole(counter)
    } setup: {
        try Registry().counter("bench_total", help: "B.")
    }

    Benchmark("swift-prometheus counter increment", configuration: perOperation) { benchmark, counter in
        for _ in benchmark.scaledIterations { counter.increment() }
        blackHole(counter)
    } setup: {
        PrometheusCollectorRegistry().makeCounter(name: "bench_total")
    }

    // MARK: Histogram observe (11 default buckets)

    let values = (0..<1024).map { Double($0 % 100) / 37.0 }

    Benchmark("Vigil histogram observe", configuration: perOperation) { benchmark, histogram in
        var i = 0
        for _ in benchmark.scaledIterations {
            histogram.observe(values[i & 1023])
            i &+= 1
        }
        blackHole(histogram)
    } setup: {
        try Registry().histogram("bench_seconds", help: "B.")
    }

    Benchmark("swift-prometheus histogram observe", configuration: perOperation) { benchmark, histogram in
        var i = 0
        for _ in benchmark.scaledIterations {
            histogram.record(values[i & 1023])
            i &+= 1
        }
        blackHole(histogram)
    } setup: {
        PrometheusCollectorRegistry().makeValueHistogram(
            name: "bench_seconds", buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])
    }

    // MARK: Labelled lookup of an existing series + increment (2 labels)

    Benchmark("Vigil labelled lookup + increment", configuration: perOperation) { (benchmark: Benchmark, family: CounterFamily) in
        for _ in benchmark.scaledIterations { family.labels("GET", "200").inc() }
        blackHole(family)
    } setup: {
        let family = try Registry().counter("requests_total", help: "R.", labelNames: ["method", "code"])
        for code in ["200", "404", "500"] { for method in ["GET", "POST"] { family.labels(method, code).inc() } }
        return family
    }

    Benchmark("swift-prometheus labelled lookup + increment", configuration: perOperation) { (benchmark: Benchmark, registry: PrometheusCollectorRegistry) in
        for _ in benchmark.scaledIterations {
            registry.makeCounter(name: "requests_total", labels: [("method", "GET"), ("code", "200")]).increment()
        }
        blackHole(registry)
    } setup: {
        let registry = PrometheusCollectorRegistry()
        for code in ["200", "404", "500"] {
            for method in ["GET", "POST"] { registry.makeCounter(name: "requests_total", labels: [("method", method), ("code", code)]).increment() }
        }
        return registry
    }

    // MARK: Two threads on one counter (wall time per increment on each thread)

    Benchmark("Vigil counter increment, 2 threads", configuration: perOperation) { benchmark, counter in
        let iterations = benchmark.scaledIterations.count
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            for _ in 0..<iterations { counter.inc() }
        }
        blackHole(counter)
    } setup: {
        try Registry().counter("bench_total", help: "B.")
    }

    Benchmark("swift-prometheus counter increment, 2 threads", configuration: perOperation) { benchmark, counter in
        let iterations = benchmark.scaledIterations.count
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            for _ in 0..<iterations { counter.increment() }
        }
        blackHole(counter)
    } setup: {
        PrometheusCollectorRegistry().makeCounter(name: "bench_total")
    }

    // MARK: Rendering N series: counters in 10 families of 2 labels each

    for seriesCount in [10_000, 100_000] {
        let label = seriesCount == 10_000 ? "10k" : "100k"
        let shape = Benchmark.Configuration(metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(5), maxIterations: 200)

        func vigilRegistry() throws -> Vigil.Registry {
            let registry = Registry(defaultSeriesLimit: 100_000)
            for f in 0..<10 {
                let family = try registry.counter("family_\(f)_total", help: "Family \(f).", labelNames: ["plugin", "phase"])
                for s in 0..<(seriesCount / 10) { family.labels("plugin-\(s % 100)", "phase-\(s)").inc(by: s) }
            }
            return registry
        }

        Benchmark("Vigil text of \(label) series", configuration: shape) { (benchmark: Benchmark, registry: Vigil.Registry) in
            for _ in benchmark.scaledIterations { blackHole(registry.render(.text)) }
        } setup: {
            try vigilRegistry()
        }

        Benchmark("Vigil OpenMetrics of \(label) series", configuration: shape) { (benchmark: Benchmark, registry: Vigil.Registry) in
            for _ in benchmark.scaledIterations { blackHole(registry.render(.openMetrics)) }
        } setup: {
            try vigilRegistry()
        }

        Benchmark("swift-prometheus text of \(label) series", configuration: shape) { (benchmark: Benchmark, registry: PrometheusCollectorRegistry) in
            for _ in benchmark.scaledIterations {
                var buffer: [UInt8] = []
                registry.emit(into: &buffer)
                blackHole(buffer)
            }
        } setup: {
            let registry = PrometheusCollectorRegistry()
            for f in 0..<10 {
                for s in 0..<(seriesCount / 10) {
                    registry.makeCounter(name: "family_\(f)_total", labels: [("plugin", "plugin-\(s % 100)"), ("phase", "phase-\(s)")])
                        .increment(by: Int64(s))
                }
            }
            return registry
        }
    }
}
