import Foundation
import Logging
import Vigil
@testable import VigilDemo
import XCTest

/// `vigil demo` obeys the OpenTelemetry environment: the sampler and OTEL_SDK_DISABLED decide
/// what reaches its trace file.
final class DemoSamplingTests: XCTestCase {
    let logger = Logger(label: "demo-sampling-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Runs `count` root executions of a demo phase through the demo's own observer and
    /// returns how many spans of it reached the trace file.
    func exportedSpans(_ environment: [String: String], count: Int) async throws -> (demo: Demo, spans: Int) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-demo-sampling-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("traces.jsonl").path
        let config = try Demo.config(listen: "127.0.0.1:0", hungryChildPID: getpid())
        let demo = try Demo(config: config, timings: .fast, hungryChildPID: getpid(), tracesFile: file, logger: logger,
                            environment: environment)
        for _ in 0..<count { try await demo.service.observer.observe(plugin: "ocr", phase: "tokenize") {} }
        await demo.sidecar.tracer?.forceFlush()
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        return (demo, text.components(separatedBy: "\"name\":\"tokenize\"").count - 1)
    }

    func testAlwaysOnExportsEverySpanAndAlwaysOffNone() async throws {
        let on = try await exportedSpans(["OTEL_TRACES_SAMPLER": "always_on"], count: 200)
        XCTAssertEqual(on.spans, 200)
        let off = try await exportedSpans(["OTEL_TRACES_SAMPLER": "always_off"], count: 200)
        XCTAssertEqual(off.spans, 0)
    }

    func testARatioOfAQuarterExportsAboutAQuarter() async throws {
        let quarter = try await exportedSpans(["OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"], count: 4000)
        // Binomial(4000, 0.25): mean 1000, standard deviation 27.4; ±200 is beyond 7 deviations.
        XCTAssertEqual(Double(quarter.spans), 1000, accuracy: 200)
        XCTAssertEqual(quarter.demo.sidecar.tracer?.sampler, .traceIDRatio(0.25))
    }

    func testSDKDisabledMakesNoTracerAndExportsNothing() async throws {
        let disabled = try await exportedSpans(["OTEL_SDK_DISABLED": "true", "OTEL_TRACES_SAMPLER": "always_on"], count: 100)
        XCTAssertNil(disabled.demo.sidecar.tracer)
        XCTAssertEqual(disabled.spans, 0)
    }
}
