import Foundation
import Vigil
import VigilTestSupport
import XCTest

/// SIGTERM with the collectors gone quiet: `vigil serve` turns readiness off, gives its last push
/// and its span flush what is left of `shutdown_grace`, abandons them there, and exits 0.
final class ShutdownTests: XCTestCase {
    var child: VigilServeProcess?
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-shutdown-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() {
        child?.stop()
        child = nil
        try? FileManager.default.removeItem(at: folder)
    }

    func testSIGTERMEndsVigilWithinItsGraceWhenThePushgatewayAndTheCollectorNeverAnswer() async throws {
        let gateway = try SilentListener(), collector = try SilentListener()
        let grace = 2.0
        let config = folder.appendingPathComponent("vigil.yml").path
        // A plugin over a 1-byte memory limit, with a dry-run action at once: a span to flush.
        try """
            listen: 127.0.0.1:0
            sampling_interval: 100ms
            shutdown_grace: \(Int(grace * 1000))ms
            plugins:
              - name: itself
                match: [{self: true}]
                limits: {memory: 1}
                on_limit: {for: 0s, action: signal, signal: TERM, dry_run: true}
            pushgateway:
              url: http://127.0.0.1:\(gateway.port)
              interval: 1h
            otlp:
              endpoint: http://127.0.0.1:\(collector.port)
              timeout: 60s
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let child = try await VigilServeProcess(config: config, logPath: folder.appendingPathComponent("log").path)
        self.child = child

        try await waitUntil("/-/ready to answer 200 once the plugins are sampled") { try await child.request("GET", "/-/ready").status == 200 }
        try await waitUntil("a push and a span export hanging on the silent listeners") {
            gateway.pump()
            collector.pump()
            return gateway.accepted > 0 && collector.text.contains("POST /v1/traces")
        }

        let started = ContinuousClock.now
        child.send(signal: SIGTERM)
        // While the last push and the flush wait, the server still answers: not ready.
        try await waitUntil("/-/ready to answer 503 while shutting down") {
            (try? await child.request("GET", "/-/ready"))?.status == 503
        }
        try await waitUntil(timeout: .seconds(grace + 5), "vigil serve to exit") { !child.process.isRunning }
        let took = started.duration(to: .now)
        XCTAssertLessThanOrEqual(took, .seconds(grace + 1), "shutdown_grace is \(grace) s; vigil took \(took)")
        XCTAssertEqual(child.process.terminationReason, .exit)
        XCTAssertEqual(child.process.terminationStatus, 0, child.log)
        XCTAssertTrue(child.log.contains("push failed"), "the abandoned last push is logged:\n\(child.log)")
        XCTAssertTrue(child.log.contains("span flush abandoned at the shutdown deadline"), "the abandoned flush is logged:\n\(child.log)")
    }
}
