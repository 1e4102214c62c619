import Foundation
import XCTest
@testable import VigilExport

final class ExportUnitTests: XCTestCase {
    func testGzipRoundTripsAndRefusesGarbage() throws {
        let input = Array(String(repeating: "vigil_phase_executions_total{plugin=\"ocr\"} 12\n", count: 500).utf8)
        let compressed = try Gzip.compress(input)
        XCTAssertLessThan(compressed.count, input.count / 10)
        XCTAssertEqual(Array(compressed.prefix(2)), [0x1F, 0x8B], "a gzip member starts with its magic number")
        XCTAssertEqual(try Gzip.decompress(compressed), input)
        XCTAssertThrowsError(try Gzip.decompress([1, 2, 3, 4]))
        XCTAssertThrowsError(try Gzip.decompress(Array(compressed.prefix(20))))
        XCTAssertThrowsError(try Gzip.decompress(compressed, limit: 100))
        XCTAssertEqual(try Gzip.decompress(try Gzip.compress([])), [])
    }

    func testRetryAfterInSecondsAndInEveryHTTPDateForm() {
        let now = 784_111_777.0  // Sun, 06 Nov 1994 08:49:37 GMT
        XCTAssertEqual(RetryAfter.delay("120", now: now), .seconds(120))
        XCTAssertEqual(RetryAfter.delay("Sun, 06 Nov 1994 08:49:47 GMT", now: now), .seconds(10))
        XCTAssertEqual(RetryAfter.delay("Sunday, 06-Nov-94 08:49:57 GMT", now: now), .seconds(20))
        XCTAssertEqual(RetryAfter.delay("Sun Nov  6 08:50:07 1994", now: now), .seconds(30))
        XCTAssertEqual(RetryAfter.delay("Sun, 06 Nov 1994 08:00:00 GMT", now: now), .zero, "a date in the past means now")
        XCTAssertNil(RetryAfter.delay("soon", now: now))
        XCTAssertNil(RetryAfter.delay("-5", now: now))
        XCTAssertNil(RetryAfter.delay("Sun, 32 Nov 1994 08:49:37 GMT", now: now))
    }

    func testBackoffGrowsWithJitterAndIsCapped() {
        var policy = RetryPolicy()
        policy.initialBackoff = .seconds(1)
        policy.maxBackoff = .seconds(8)
        for attempt in 1...6 {
            let step = min(8.0, Double(1 << (attempt - 1)))
            let wait = policy.backoff(after: attempt)
            XCTAssertGreaterThanOrEqual(wait, .seconds(step / 2))
            XCTAssertLessThanOrEqual(wait, .seconds(step))
        }
    }

    func testConfigurationFromTheOpenTelemetryVariables() {
        let general = OTLPConfiguration.fromEnvironment([
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc%3D%3D, tenant = blue ,broken",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "none",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
        ])
        XCTAssertEqual(general.tracesEndpoint, "http://collector:4318/v1/traces")
        XCTAssertEqual(general.headers.map(\.name), ["api-key", "tenant"])
        XCTAssertEqual(general.headers.map(\.value), ["abc==", "blue"])
        XCTAssertFalse(general.gzip)
        XCTAssertEqual(general.timeout, .milliseconds(2500))
        XCTAssertEqual(general.encoding, .json)
        let specific = OTLPConfiguration.fromEnvironment([
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:9999/custom",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "nonsense",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
        ])
        XCTAssertEqual(specific.tracesEndpoint, "http://traces:9999/custom")
        XCTAssertEqual(specific.timeout, .seconds(10))
        XCTAssertTrue(specific.gzip)
        XCTAssertEqual(OTLPConfiguration.fromEnvironment([:]).tracesEndpoint, "http://localhost:4318/v1/traces")
    }

    func testPartialSuccessIsReadFromProtobufAndJSON() {
        // ExportTraceServiceResponse{partial_success{rejected_spans: 3, error_message: "old"}}
        let protobuf: [UInt8] = [0x0A, 0x07, 0x08, 0x03, 0x12, 0x03, 0x6F, 0x6C, 0x64]
        XCTAssertEqual(OTLPHTTPExporter.partialSuccess(HTTPResponse(status: 200, headers: [], body: protobuf)),
                       .partialSuccess(rejected: 3, message: "old"))
        let json = Array(#"{"partialSuccess": {"rejectedSpans": "2", "errorMessage": "bad"}}"#.utf8)
        XCTAssertEqual(OTLPHTTPExporter.partialSuccess(HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: json)),
                       .partialSuccess(rejected: 2, message: "bad"))
        XCTAssertEqual(OTLPHTTPExporter.partialSuccess(HTTPResponse(status: 200, headers: [], body: [])), .success)
        XCTAssertEqual(OTLPHTTPExporter.partialSuccess(HTTPResponse(status: 200, headers: [], body: Array("{}".utf8))), .success)
    }
}
