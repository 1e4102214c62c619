import Logging
import Vigil
@testable import VigilDemo
import VigilSidecar
import VigilTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The demo's wiring: its configuration, its story's timings, and what a scrape shows once it
/// runs. The hungry child is stood in for by this test process, so no child is started.
final class DemoTests: XCTestCase {
    let logger = Logger(label: "demo-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    func testTheDemoWatchesItsHostAndTheHungryChildEachWithItsLimits() throws {
        let config = try Demo.config(listen: "127.0.0.1:0", hungryChildPID: 4242)
        XCTAssertEqual(config.plugins.map(\.name), ["demo-host", "hungry-child"])
        XCTAssertEqual(config.plugins[0].limits, ResourceLimits(memoryBytes: 1 << 30, cpuRatio: 1.5, openFDs: 1024, threads: 64))
        XCTAssertEqual(config.plugins[1].limits, ResourceLimits(memoryBytes: 64 << 20, openFDs: 64))
        guard case .currentProcess = config.plugins[0].matchers.first?.rule else { return XCTFail("demo-host is the demo's own process") }
        guard case .pid(4242) = config.plugins[1].matchers.first?.rule else { return XCTFail("hungry-child is the child's pid") }
        XCTAssertEqual(config.listenHost, "127.0.0.1")
        XCTAssertEqual(config.listenPort, 0)
    }

    func testTheHungryChildSwingsAcrossItsLimit() {
        XCTAssertGreaterThan(HungryChild.highMiB, HungryChild.limitMiB)
        XCTAssertLessThan(HungryChild.lowMiB, HungryChild.limitMiB)
    }

    func testABadListenAddressSaysWhatToWrite() {
        XCTAssertThrowsError(try Demo.config(listen: "9464", hungryChildPID: 4242)) { error in
            XCTAssertEqual("\(error)", #"--listen: "9464" is not host:port (try 127.0.0.1:9464)"#)
        }
    }

    func testTheEnvironmentWinsOverListen() throws {
        let config = try Demo.config(listen: "127.0.0.1:0", hungryChildPID: 4242, environment: ["VIGIL_LISTEN": "127.0.0.1:19464"])
        XCTAssertEqual(config.listenPort, 19464)
    }

    func testTheBackendIsDownFromAQuarterIntoEachCycleForTheOutage() {
        let fast = DemoTimings.fast  // a 16 s cycle, down 6 s from 4 s in
        func down(_ seconds: Double) -> Bool { CallBackend.isDown(after: .seconds(seconds), timings: fast) }
        XCTAssertFalse(down(0))
        XCTAssertFalse(down(3.9))
        XCTAssertTrue(down(4))
        XCTAssertTrue(down(9.9))
        XCTAssertFalse(down(10))
        XCTAssertTrue(down(16 + 4))
    }

    func testTheBannerNamesTheAddressAndTheCappedTraceFile() throws {
        let config = try Demo.config(listen: "127.0.0.1:0", hungryChildPID: 4242)
        let demo = try Demo(config: config, timings: .fast, hungryChildPID: 4242, tracesFile: "traces.jsonl", logger: logger)
        let banner = demo.banner(port: 39464)
        XCTAssertTrue(banner.contains("metrics:  http://127.0.0.1:39464/metrics"), banner)
        XCTAssertTrue(banner.contains("the file traces.jsonl (one OTLP/JSON batch a line, capped at 16 MiB, one rotated file)"), banner)
        XCTAssertTrue(banner.contains("(pid 4242)"), banner)
    }

    func testRunningTheDemoObservesEachPhaseOfBothPluginsAndServesTheBreakerInEveryState() async throws {
        let config = try Demo.config(listen: "127.0.0.1:0", hungryChildPID: getpid())
        let demo = try Demo(config: config, timings: .fast, hungryChildPID: getpid(), tracesFile: nil, logger: logger)
        let phases = ["ocr": ["decode", "recognize", "store"], "translate": ["tokenize", "call_backend", "join"]]
        try await withRunningServer({ try await demo.run(onListening: $0) }) { server in
            var samples: [String: Double] = [:]
            try await waitUntil(timeout: .seconds(20), "an execution of every phase of both plugins, and a sample of the hungry child") {
                samples = try await server.scrape()
                let executed = phases.allSatisfy { plugin, names in
                    names.allSatisfy { (samples[#"vigil_phase_executions_total{plugin="\#(plugin)",phase="\#($0)"}"#] ?? 0) > 0 }
                }
                return executed && (samples[#"vigil_plugin_resident_memory_bytes{plugin="hungry-child"}"#] ?? 0) > 0
            }
            let observed = Set(samples.keys.filter { $0.hasPrefix("vigil_phase_executions_total{") })
            XCTAssertEqual(observed, Set(phases.flatMap { plugin, names in
                names.map { #"vigil_phase_executions_total{plugin="\#(plugin)",phase="\#($0)"}"# }
            }), "each phase of a chain is a series of its own; no series for a chain such as decode+recognize")
            for state in ["closed", "open", "half_open"] {
                XCTAssertNotNil(samples[#"vigil_breaker_state{plugin="translate",breaker="backend",state="\#(state)"}"#], state)
            }
            let took = try await server.shutDown()
            XCTAssertLessThan(took, config.shutdownGrace)
            let refused = await server.refusesConnections()
            XCTAssertTrue(refused, "nothing listens on port \(server.port) after shutdown")
        }
    }
}
