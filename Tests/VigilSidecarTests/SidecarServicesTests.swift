import Logging
import Vigil
import VigilSidecar
import VigilTestSupport
import XCTest

/// The sidecar's services run for real: its server on a loopback port, its sampler on this
/// process, its pusher against a Pushgateway that is not there; scraped over HTTP and stopped
/// by a graceful shutdown, as SIGTERM stops `vigil serve`.
final class SidecarServicesTests: XCTestCase {
    let grace: Duration = .seconds(2)

    /// A sidecar watching this process, pushing to `pushgateway` when given a port.
    func sidecar(pushgateway: Int? = nil) throws -> Sidecar {
        var yaml = """
            listen: 127.0.0.1:0
            sampling_interval: 100ms
            shutdown_grace: 2s
            plugins:
              - name: test-host
                match:
                  - self: true

            """
        if let pushgateway { yaml += "pushgateway:\n  url: http://127.0.0.1:\(pushgateway)\n  job: sidecar-tests\n  interval: 100ms\n" }
        var config = try SidecarConfig.parse(yaml, file: "test.yml")
        XCTAssertEqual(config.shutdownGrace, grace)
        // Retries a shutdown would have to wait out, were it to wait: 1-2 s, then 2-4 s, past the grace.
        config.pushgateway?.client.retry.maxAttempts = 3
        config.pushgateway?.client.retry.initialBackoff = .seconds(2)
        config.pushgateway?.client.retry.maxBackoff = .seconds(4)
        return try Sidecar(config: config, logger: Logger(label: "sidecar-tests", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    func testServesBuildInfoAndThePluginsMemoryOnceTheSamplerHasSampled() async throws {
        let sidecar = try sidecar()
        try await withRunningServer({ try await sidecar.run(onListening: $0) }) { server in
            XCTAssertNotEqual(server.port, 0, "onListening reports the port bound, not the 0 asked for")
            var samples: [String: Double] = [:]
            try await waitUntil("the plugin's resident memory in a scrape") {
                samples = try await server.scrape()
                return (samples[#"vigil_plugin_resident_memory_bytes{plugin="test-host"}"#] ?? 0) > 0
            }
            XCTAssertEqual(samples[#"vigil_build_info{version="\#(VigilVersion.current)"}"#], 1)
            XCTAssertEqual(samples[#"vigil_plugin_processes{plugin="test-host"}"#], 1)
        }
    }

    func testAnswersTheHealthCheck() async throws {
        let sidecar = try sidecar()
        try await withRunningServer({ try await sidecar.run(onListening: $0) }) { server in
            let response = try await server.get("/-/healthy")
            XCTAssertEqual(response.status, 200)
        }
    }

    func testGracefulShutdownStopsTheSidecarWithinItsGraceAndClosesThePort() async throws {
        let sidecar = try sidecar()
        try await withRunningServer({ try await sidecar.run(onListening: $0) }) { server in
            try await waitUntil("a first sample") { sidecar.sampler.usage["test-host"]?.processes == 1 }
            let took = try await server.shutDown()
            XCTAssertLessThan(took, grace, "shutdown finished by itself, not by the group's cancellation at the grace")
            let refused = await server.refusesConnections()
            XCTAssertTrue(refused, "nothing listens on port \(server.port) after shutdown")
        }
    }

    func testAPushgatewayThatRefusesConnectionsDoesNotHoldShutdownPastTheGrace() async throws {
        let closed = try await portNothingListensOn()
        let sidecar = try sidecar(pushgateway: closed)
        try await withRunningServer({ try await sidecar.run(onListening: $0) }) { server in
            try await waitUntil(timeout: .seconds(15), "a failed push to the closed port") {
                (try await server.scrape()[#"vigil_push_total{target="pushgateway",result="failure"}"#] ?? 0) >= 1
            }
            // The pusher is now between retries of its next push.
            let took = try await server.shutDown()
            XCTAssertLessThan(took, grace)
        }
    }

    /// A loopback port that was just bound and released, so connecting to it is refused.
    func portNothingListensOn() async throws -> Int {
        var configuration = MetricsServer.Configuration()
        configuration.port = 0
        let server = try await MetricsServer.start(registry: Registry(), configuration: configuration)
        let port = server.localPort
        try await server.stop()
        return port
    }
}
