// A small plugin host written the way a user would write one: two plugins, observed, one of
// them behind a circuit breaker; metrics served by the embedded endpoint, traces exported over
// OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set. Built by `make test`; run it with
// `swift run PluginHost` and scrape http://127.0.0.1:9465/metrics while it runs (20 s).
import Vigil

struct Resize: Phase {
    var name: String { "resize" }
    func execute(_ image: [UInt8]) async throws -> [UInt8] { image.enumerated().filter { $0.offset % 2 == 0 }.map(\.element) }
}

struct Compress: Phase {
    var name: String { "compress" }
    func execute(_ image: [UInt8]) async throws -> [UInt8] { try Gzip.compress(image) }
}

struct Thumbnails: Plugin {
    var name: String { "thumbnails" }
    var phases: PhaseChain<Resize, Compress> { Resize().then(Compress()) }
}

struct Lookup: Phase {
    struct Timeout: ClassifiedError { var errorType: String { "timeout" } }
    var name: String { "lookup" }
    func execute(_ key: String) async throws -> String {
        if Int.random(in: 0..<10) == 0 { throw Timeout() }  // an unreliable dependency
        return key.uppercased()
    }
}

// --- README: observing plugins ---
let registry = Registry()
let tracer: Tracer? = ProcessEnvironment.all["OTEL_EXPORTER_OTLP_ENDPOINT"].map { _ in
    let resource = TelemetryResource.detect(serviceName: "plugin-host")
    return Tracer(resource: resource, processor: BatchSpanProcessor(exporter: OTLPHTTPExporter(resource: resource, registry: registry), registry: registry))
}
let observer = try PluginObserver(registry: registry, tracer: tracer)
let breaker = try CircuitBreaker(plugin: "lookup", name: "directory", registry: registry)

observer.load(plugin: "thumbnails", version: "1.0.0")                     // vigil_plugin_info, start time
let thumbnails = Thumbnails().observed(by: observer)                       // every phase counted, timed, traced
let lookup = Lookup().guarded(by: breaker).observed(plugin: "lookup", by: observer)
var server = MetricsServer.Configuration()
server.port = 9465
let endpoint = try await MetricsServer.start(registry: registry, configuration: server)   // GET /metrics
// --- end ---

print("serving http://127.0.0.1:\(endpoint.localPort)/metrics for 20 seconds")
let clock = ContinuousClock()
let end = clock.now + .seconds(20)
while clock.now < end {
    _ = try? await thumbnails.run((0..<4096).map { UInt8(truncatingIfNeeded: $0) })
    _ = try? await lookup.execute("user-42")
    try await Task.sleep(for: .milliseconds(20))
}
// --- README: unloading ---
observer.unload(plugin: "thumbnails")                // its phase series leave the next scrape
breaker.unregister()                                 // and the breaker's
registry.removeSeries(matching: ["plugin": "lookup"])  // or every registered family at once
// --- end ---
await tracer?.shutdown(deadline: .seconds(5))
try await endpoint.stop()
