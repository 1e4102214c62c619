// swift-tools-version:6.2
import PackageDescription

// Benchmarks live in a package of their own so that the peers they compare against
// (swift-prometheus) never become dependencies of Vigil. Run: `make bench` from the root.
let package = Package(
    name: "vigil-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "vigil"),  // a link to the repository root, so the identity is "vigil" wherever it is cloned
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        // The tracing peer; only OTelPeerBenchmarks uses it. (Its default traits stay on: 1.6.0 does not
        // build without them.)
        .package(url: "https://github.com/swift-otel/swift-otel", exact: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
    ],
    targets: [
        .executableTarget(
            name: "MetricsBenchmarks",
            dependencies: [
                // The metrics core and the swift-metrics backend only: no NIO or TLS to build.
                .product(name: "VigilMetrics", package: "vigil"),
                .product(name: "VigilSwiftMetrics", package: "vigil"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            path: "Benchmarks/MetricsBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ResourceBenchmarks",
            dependencies: [
                .product(name: "Vigil", package: "vigil"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/ResourceBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The swift-distributed-tracing calls the three tracing executables below measure alike.
        .target(
            name: "TracingAPIWorkload",
            dependencies: [
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Sources/TracingAPIWorkload"
        ),
        .executableTarget(
            name: "TracingBenchmarks",
            dependencies: [
                "TracingAPIWorkload",
                .product(name: "Vigil", package: "vigil"),
                .product(name: "VigilTracingBridge", package: "vigil"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/TracingBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // swift-otel's tracer on the same two swift-distributed-tracing paths as TracingBenchmarks'
        // "bridge" benchmarks. A separate executable because InstrumentationSystem is process-global.
        .executableTarget(
            name: "OTelPeerBenchmarks",
            dependencies: [
                "TracingAPIWorkload",
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/OTelPeerBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // swift-distributed-tracing's own NoOpTracer on the same paths: the floor every tracer pays.
        .executableTarget(
            name: "TracingAPIFloorBenchmarks",
            dependencies: [
                "TracingAPIWorkload",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/TracingAPIFloorBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The wrk load test's two servers (scrape-load).
        .executableTarget(
            name: "ScrapeServers",
            dependencies: [
                .product(name: "Vigil", package: "vigil"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Sources/ScrapeServers"
        ),
    ]
)
