// swift-tools-version:6.1
import PackageDescription

// Module map and data paths: docs/ARCHITECTURE.md. Each arrow below points at what a module
// may import. VigilMetrics depends on no package, so a host that only counts links neither NIO,
// libcurl nor zlib (scripts/check-metrics-only proves it).
//
// Platforms: Linux only. Vigil reads /proc and calls glibc; no Apple platform is declared
// because none is built or tested.
let package = Package(
    name: "vigil",
    products: [
        .library(name: "Vigil", targets: ["Vigil"]),
        .library(name: "VigilMetrics", targets: ["VigilMetrics"]),
        .library(name: "VigilTracingBridge", targets: ["VigilTracingBridge"]),
        .library(name: "VigilSwiftMetrics", targets: ["VigilSwiftMetrics"]),
        .executable(name: "vigil", targets: ["vigil"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // One of each helper (locks, clocks, hex, trimming, the timeout race); not a product.
        // System calls Swift cannot make itself (membarrier, gettid).
        .target(name: "CVigilSystem"),
        .target(name: "VigilSupport", dependencies: ["CVigilSystem"]),
        .target(name: "VigilMetrics", dependencies: ["VigilSupport"]),
        // Every metric family Vigil exports, declared once; `vigil metrics` prints it.
        .target(name: "VigilContract", dependencies: ["VigilMetrics", "VigilSupport"]),
        .target(name: "VigilTracing", dependencies: ["VigilMetrics", "VigilContract", "VigilSupport"]),
        // The OTLP wire format: protobuf and JSON writers, encoders, response readers.
        .target(name: "VigilOTLP", dependencies: ["VigilTracing", "VigilContract", "VigilSupport"]),
        .target(name: "VigilResources", dependencies: ["VigilMetrics", "VigilContract", "VigilSupport"]),
        .target(name: "VigilInstrument", dependencies: ["VigilMetrics", "VigilContract", "VigilTracing", "VigilSupport"]),
        // libcurl, loaded with dlopen by the first HTTPClient rather than linked, so that a sidecar
        // that pushes nowhere never maps it nor the TLS libraries it brings. Builds against
        // <curl/curl.h> (libcurl4-openssl-dev, which scripts/setup installs); needs libcurl.so.4 at
        // run time, for pushes only.
        .target(name: "CCurl"),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "VigilExport", dependencies: [
            "VigilMetrics", "VigilContract", "VigilTracing", "VigilOTLP", "VigilSupport", "CCurl", "CZlib",
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            // TLSUserEvent: when a handshake is complete (the head deadline starts then).
            .product(name: "NIOTLS", package: "swift-nio"),
            // bcrypt for basic_auth_users: its C core and nothing else of Hummingbird.
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
        ]),
        // The swift-distributed-tracing bridge: a module of its own, so hosts that do not use it never build it.
        .target(name: "VigilTracingBridge", dependencies: [
            "VigilTracing", .product(name: "Tracing", package: "swift-distributed-tracing"),
        ]),
        // The swift-metrics backend, likewise in a module of its own.
        .target(name: "VigilSwiftMetrics", dependencies: ["VigilMetrics", .product(name: "CoreMetrics", package: "swift-metrics")]),
        .target(name: "Vigil", dependencies: [
            "VigilMetrics", "VigilContract", "VigilTracing", "VigilOTLP", "VigilResources", "VigilInstrument", "VigilExport",
        ]),
        // The sidecar's configuration and services, in a library so that tests reach them. Not a product.
        .target(name: "VigilSidecar", dependencies: [
            "Vigil", "VigilSupport",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),
        // `vigil demo`: its plugins, its hungry child and its wiring. Not a product.
        .target(name: "VigilDemo", dependencies: [
            "VigilSidecar", "Vigil", "VigilSupport",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(
            name: "vigil",
            dependencies: [
                "VigilSidecar", "VigilDemo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Renders a registry that holds every metric type and every awkward label value, for
        // scripts/interop to hand to promtool and the Python parsers. Not a product.
        .executableTarget(name: "VigilInteropFixture", dependencies: ["VigilMetrics"]),
        .executableTarget(name: "QuickStart", dependencies: ["Vigil"], path: "Examples/QuickStart"),
        .executableTarget(name: "PluginHost", dependencies: ["Vigil"], path: "Examples/PluginHost"),
        // The test kit every test target shares: one in-memory exporter, condition waits.
        .target(name: "VigilTestSupport", dependencies: [
            "Vigil", .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
        ], path: "Tests/VigilTestSupport"),
        .testTarget(name: "VigilMetricsTests", dependencies: ["VigilMetrics"]),
        .testTarget(name: "VigilContractTests", dependencies: ["VigilContract"]),
        .testTarget(name: "VigilResourcesTests", dependencies: ["VigilResources", "VigilTestSupport"], exclude: ["Helpers"]),
        .testTarget(name: "VigilTracingTests", dependencies: ["VigilTracing", "VigilSupport", "VigilTestSupport"]),
        .testTarget(name: "VigilOTLPTests", dependencies: ["VigilOTLP", "VigilTracing"]),
        .testTarget(name: "VigilExportTests", dependencies: ["VigilExport", "VigilTestSupport"]),
        .testTarget(name: "VigilInstrumentTests", dependencies: ["VigilInstrument", "VigilSupport", "VigilTestSupport"]),
        .testTarget(name: "VigilSidecarTests", dependencies: [
            "VigilSidecar", "VigilTestSupport",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "VigilDemoTests", dependencies: [
            "VigilDemo", "VigilTestSupport",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "VigilTracingBridgeTests", dependencies: ["VigilTracingBridge", "VigilTestSupport"]),
        .testTarget(name: "VigilSwiftMetricsTests", dependencies: ["VigilSwiftMetrics", .product(name: "Metrics", package: "swift-metrics")]),
    ]
)
