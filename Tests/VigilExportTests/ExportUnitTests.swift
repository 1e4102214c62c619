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

    func testAConfigurationDescriptionNeverShowsHeaderValues() {
        let configuration = OTLPConfiguration(tracesEndpoint: "https://u:hunter2@collector/v1/traces", headers: [("Authorization", "Bearer s3cret")])
        let text = "\(configuration)"
        XCTAssertFalse(text.contains("s3cret"), text)
        XCTAssertFalse(text.contains("hunter2"), text)
        XCTAssertTrue(text.contains("Authorization: <redacted>"), text)
        XCTAssertEqual("\(PushAuthentication.basic(username: "pusher", password: "hunter2"))", "basic(username: \"pusher\", password: <redacted>)")
        XCTAssertFalse("\([PushAuthentication.bearer(token: "s3cret")])".contains("s3cret"))
    }
}
