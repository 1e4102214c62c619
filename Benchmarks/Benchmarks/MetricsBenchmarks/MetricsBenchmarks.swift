// Vigil's metrics core beside swift-prometheus 2.4.1, measured in the same run.
// Each pair records the same thing the same way; names start with the library.
// `CoreMetrics.` names swift-metrics' API; `VigilMetrics.` and `Prometheus.` the libraries' own.
import Benchmark
import CoreMetrics
import Foundation
import Prometheus
import VigilMetrics
import VigilSwiftMetrics

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

        func vigilRegistry() throws -> VigilMetrics.Registry {
            let registry = Registry(defaultSeriesLimit: 100_000)
            for f in 0..<10 {
                let family = try registry.counter("family_\(f)_total", help: "Family \(f).", labelNames: ["plugin", "phase"])
                for s in 0..<(seriesCount / 10) { family.labels("plugin-\(s % 100)", "phase-\(s)").inc(by: s) }
            }
            return registry
        }

        Benchmark("Vigil text of \(label) series", configuration: shape) { (benchmark: Benchmark, registry: VigilMetrics.Registry) in
            for _ in benchmark.scaledIterations { blackHole(registry.render(.text)) }
        } setup: {
            try vigilRegistry()
        }

        Benchmark("Vigil OpenMetrics of \(label) series", configuration: shape) { (benchmark: Benchmark, registry: VigilMetrics.Registry) in
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

    // MARK: The swift-metrics API, as server middleware calls it, on both backends

    // Handlers are made through each factory directly: `MetricsSystem.bootstrap` is global and
    // once per process. Dimensions are an array literal at each call, as in middleware.
    let perRequest = Benchmark.Configuration(
        metrics: [.wallClock, .mallocCountTotal], scalingFactor: .kilo, maxDuration: .seconds(3))

    func swiftMetricsBenchmarks(_ library: String, _ makeFactory: @escaping @Sendable () -> any MetricsFactory) {
        Benchmark("\(library) swift-metrics Counter made per request + increment", configuration: perRequest) { benchmark, factory in
            for _ in benchmark.scaledIterations {
                CoreMetrics.Counter(
                    label: "http_requests", dimensions: [("method", "GET"), ("path", "/users"), ("status", "200")], factory: factory
                ).increment()
            }
            blackHole(factory)
        } setup: {
            makeFactory()
        }

        Benchmark("\(library) swift-metrics Timer made per request + recordNanoseconds", configuration: perRequest) { benchmark, factory in
            for _ in benchmark.scaledIterations {
                CoreMetrics.Timer(
                    label: "http_request_duration", dimensions: [("method", "GET"), ("path", "/users"), ("status", "200")], factory: factory
                ).recordNanoseconds(1_234_567)
            }
            blackHole(factory)
        } setup: {
            makeFactory()
        }

        Benchmark("\(library) swift-metrics held Counter increment", configuration: perOperation) { benchmark, counter in
            for _ in benchmark.scaledIterations { counter.increment() }
            blackHole(counter)
        } setup: {
            CoreMetrics.Counter(label: "jobs", dimensions: [("queue", "default")], factory: makeFactory())
        }
    }

    swiftMetricsBenchmarks("Vigil") { VigilMetricsFactory(registry: VigilMetrics.Registry()) }
    swiftMetricsBenchmarks("swift-prometheus") { PrometheusMetricsFactory(registry: PrometheusCollectorRegistry()) }

    // MARK: Rendering N series made the way a host makes them

    // Series are created in shuffled label order, each followed by a few allocations the host
    // keeps (`ballast`), so that series are scattered over the heap as in a long-running host
    // rather than packed in creation order.
    for seriesCount in [10_000, 100_000] {
        let label = seriesCount == 10_000 ? "10k" : "100k"
        let shape = Benchmark.Configuration(metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(5), maxIterations: 200)

        /// (family, series) in a fixed shuffled order.
        func scattered() -> [(family: Int, series: Int)] {
            var pairs = (0..<10).flatMap { f in (0..<(seriesCount / 10)).map { (family: f, series: $0) } }
            var rng = SplitMix(seed: 42)
            pairs.shuffle(using: &rng)
            return pairs
        }

        func ballast(_ i: Int) -> [AnyObject] {
            [Ballast(size: 1 + i % 7), Ballast(size: 3 + i % 13)]
        }

        func vigilRegistry() throws -> (VigilMetrics.Registry, [AnyObject]) {
            let registry = VigilMetrics.Registry(defaultSeriesLimit: 100_000)
            let families = try (0..<10).map {
                try registry.counter("family_\($0)_total", help: "Family \($0).", labelNames: ["plugin", "phase"])
            }
            var kept: [AnyObject] = []
            for (i, (f, s)) in scattered().enumerated() {
                families[f].labels("plugin-\(s % 100)", "phase-\(s)").inc(by: s)
                kept += ballast(i)
            }
            return (registry, kept)
        }

        func prometheusRegistry() -> (PrometheusCollectorRegistry, [AnyObject]) {
            let registry = PrometheusCollectorRegistry()
            var kept: [AnyObject] = []
            for (i, (f, s)) in scattered().enumerated() {
                registry.makeCounter(name: "family_\(f)_total", labels: [("plugin", "plugin-\(s % 100)"), ("phase", "phase-\(s)")])
                    .increment(by: Int64(s))
                kept += ballast(i)
            }
            return (registry, kept)
        }

        Benchmark("Vigil text of \(label) scattered series", configuration: shape) { (benchmark: Benchmark, state: (VigilMetrics.Registry, [AnyObject])) in
            for _ in benchmark.scaledIterations { blackHole(state.0.render(.text)) }
        } setup: {
            try vigilRegistry()
        }

        Benchmark("Vigil OpenMetrics of \(label) scattered series", configuration: shape) { (benchmark: Benchmark, state: (VigilMetrics.Registry, [AnyObject])) in
            for _ in benchmark.scaledIterations { blackHole(state.0.render(.openMetrics)) }
        } setup: {
            try vigilRegistry()
        }

        Benchmark("swift-prometheus text of \(label) scattered series", configuration: shape) { (benchmark: Benchmark, state: (PrometheusCollectorRegistry, [AnyObject])) in
            for _ in benchmark.scaledIterations {
                var buffer: [UInt8] = []
                state.0.emit(into: &buffer)
                blackHole(buffer)
            }
        } setup: {
            prometheusRegistry()
        }
    }
}

/// An object the host keeps between series allocations.
final class Ballast {
    let words: [Int]
    init(size: Int) { words = Array(repeating: size, count: size) }
}

/// A small deterministic generator, so that every run shuffles the series the same way.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
