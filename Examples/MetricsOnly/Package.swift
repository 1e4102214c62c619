// swift-tools-version:6.1
import PackageDescription

// A host that only counts: it depends on the VigilMetrics product and nothing else, and
// scripts/check-metrics-only proves the binary links neither libcurl, nor zlib, nor SwiftNIO.
// A package of its own, so that the root package's other products cannot leak into it.
let package = Package(
    name: "metrics-only",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "vigil"),  // a link to the repository root, so the identity is "vigil" wherever it is cloned
    ],
    targets: [
        .executableTarget(
            name: "MetricsOnly",
            dependencies: [.product(name: "VigilMetrics", package: "vigil")]
        ),
    ]
)
