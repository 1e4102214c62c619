import Foundation
import Vigil
@testable import VigilSidecar
import VigilSupport
import VigilTestSupport
import XCTest

/// A bad number, a deep nesting or a hostile byte in a configuration file or variable is an error
/// that says where and what, never a trap: the same checks for the file and the environment.
final class HostileConfigTests: XCTestCase {
    func load(_ path: String, environment: [String: String] = [:]) throws -> SidecarConfig {
        try SidecarConfig.load(path: path, environment: environment)
    }

    func error(_ text: String, environment: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try SidecarConfig.parse(text, file: "vigil.yml", environment: environment)
            XCTFail("accepted:\n\(text.prefix(200))", file: file, line: line)
            return ""
        } catch {
            return error.description
        }
    }

    /// A configuration path that is a FIFO is refused at once, not read: a reload never hangs on it.
    func testAFIFOGivenAsTheConfigurationIsRefusedWithoutBlocking() throws {
        let fifo = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-\(UUID()).yml").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        defer { unlink(fifo) }
        XCTAssertThrowsError(try SidecarConfig.load(path: fifo, environment: [:])) { error in
            XCTAssertEqual("\(error)", "\(fifo): cannot read the file: not a regular file (a FIFO, device or socket is never read); give the file itself")
        }
    }

    func testEveryCorpusFileIsRefusedWithAnErrorThatNamesIt() throws {
        let paths = try HostileConfigs.paths()
        XCTAssertGreaterThan(paths.count, 50)
        for path in paths {
            XCTAssertThrowsError(try load(path), path) { error in
                XCTAssertTrue("\(error)".hasPrefix(path), "\(error)")
            }
        }
    }

    func testADurationPastItsCeilingIsTooLongAtItsLine() {
        XCTAssertEqual(error("plugins:\n  - name: p\n    match: [{comm: w}]\n    limits: {memory: 1GiB}\n    on_limit: {for: 1e300s, action: watch}\n"),
                       "vigil.yml:5: plugins[0].on_limit.for: \"1e300s\" is too long (at most 168h)")
        XCTAssertEqual(error("shutdown_grace: 1e300s\n"), "vigil.yml:1: shutdown_grace: \"1e300s\" is too long (at most 1h)")
        XCTAssertEqual(error("shutdown_grace: 1e400s\n"), "vigil.yml:1: shutdown_grace: \"1e400s\" is too long (at most 1h)")
        XCTAssertEqual(error("sampling_interval: 2h\n"), "vigil.yml:1: sampling_interval: \"2h\" is too long (at most 1h)")
        XCTAssertEqual(error("pushgateway:\n  url: http://gw:9091\n  interval: 99999999999999999999h\n"),
                       "vigil.yml:3: pushgateway.interval: \"99999999999999999999h\" is too long (at most 168h)")
        XCTAssertEqual(error("otlp:\n  timeout: 1e300ms\n"), "vigil.yml:2: otlp.timeout: \"1e300ms\" is too long (at most 1h)")
    }

    func testADurationUnderItsFloorOrNotANumberIsRefused() {
        XCTAssertEqual(error("sampling_interval: 0s\n"), "vigil.yml:1: sampling_interval: must be at least 100ms (try 5s)")
        XCTAssertEqual(error("pushgateway:\n  url: http://gw:9091\n  interval: 0s\n"), "vigil.yml:3: pushgateway.interval: must be at least 100ms (try 30s)")
        XCTAssertEqual(error("otlp:\n  timeout: 0s\n"), "vigil.yml:2: otlp.timeout: must be at least 1ms (try 10s)")
        XCTAssertEqual(error("shutdown_grace: -1s\n"), "vigil.yml:1: shutdown_grace: \"-1s\" is negative (try 10s)")
        for text in ["nans", "infs", "0x10s", "s", "1e", "5 s", "--5s"] {
            XCTAssertEqual(error("shutdown_grace: \(text)\n"), "vigil.yml:1: shutdown_grace: \"\(text)\" is not a duration (try 500ms, 5s, 2m or 1h)")
        }
    }

    func testDurationsAtTheirBoundsAreTaken() throws {
        XCTAssertEqual(DurationRange.samplingInterval.parse("100ms"), .success(.milliseconds(100)))
        XCTAssertEqual(DurationRange.samplingInterval.parse("1h"), .success(.seconds(3600)))
        XCTAssertEqual(DurationRange.anyLength.parse("168h"), .success(.seconds(7 * 24 * 3600)))
        XCTAssertEqual(DurationRange.anyLength.parse("0s"), .success(.zero))
        XCTAssertEqual(DurationRange.anyLength.parse("1.5m"), .success(.seconds(90)))
        XCTAssertEqual(DurationRange.describe(.milliseconds(100)), "100ms")
        XCTAssertEqual(DurationRange.describe(.seconds(90)), "90s")
        XCTAssertEqual(DurationRange.describe(.seconds(120)), "2m")
    }

    func testASizePastSixtyFourBitsIsTooLargeAndANegativeOneIsNotASize() {
        let plugin = "plugins:\n  - name: p\n    match: [{comm: w}]\n    limits:\n      memory: "
        XCTAssertEqual(error(plugin + "99999999999999999999TiB\n"),
                       "vigil.yml:5: plugins[0].limits.memory: \"99999999999999999999TiB\" is too large (a size is less than 16777216TiB; try 512MiB)")
        XCTAssertTrue(error(plugin + "-5MiB\n").hasSuffix("\"-5MiB\" is not a size (try 512MiB, 1.5GiB, 100MB or a number of bytes)"))
        XCTAssertTrue(error(plugin + "nan\n").contains("is not a size"))
    }

    func testNestingDeeperThanTheLimitIsAnErrorAtItsLineNotAStackOverflow() {
        let deep = error("plugins:\n  a: " + String(repeating: "[", count: 50_000) + "\n")
        XCTAssertTrue(deep.hasPrefix("vigil.yml:2: not valid YAML: lists and mappings nest deeper than 64 levels here"), deep)
        let block = error("plugins:\n  " + String(repeating: "- ", count: 50_000) + "x\n")
        XCTAssertTrue(block.hasPrefix("vigil.yml:2: not valid YAML: lists and mappings nest deeper than 64"), block)
        let mappings = error(String(repeating: "{a: ", count: 50_000))
        XCTAssertTrue(mappings.contains("nest deeper than 64"), mappings)
        // 64 levels read.
        XCTAssertNoThrow(try YAMLReader.compose(String(repeating: "[", count: 64) + String(repeating: "]", count: 64)))
        XCTAssertThrowsError(try YAMLReader.compose(String(repeating: "[", count: 65) + String(repeating: "]", count: 65)))
    }

    func testAFileLargerThanTheLimitIsRefusedBeforeItIsRead() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-large-\(UUID().uuidString).yml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(repeating: UInt8(ascii: "#"), count: ConfigReader.maximumFileBytes + 1).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try load(path)) { error in
            XCTAssertEqual("\(error)", "\(path): is larger than 4 MiB; a configuration file is a few kilobytes (is this the right file?)")
        }
        XCTAssertThrowsError(try load("/dev/zero")) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
    }

    func testHeaderNamesAndValuesWithLineBreaksAreRefusedInTheFile() {
        XCTAssertEqual(error("otlp:\n  headers:\n    api-key: \"a\\r\\nX-Injected: 1\"\n"),
                       "vigil.yml:3: otlp.headers.api-key: the value holds a line break or control character; it should hold the secret alone, on one line")
        XCTAssertTrue(error("otlp:\n  headers:\n    \"x\\r\\ny\": v\n").contains("is not a header name"))
        XCTAssertTrue(error("metrics_path: \"/m\\r\\nX: 1\"\n").contains("metrics_path: holds a space, a line break or a control character"))
        XCTAssertTrue(error("pushgateway:\n  url: \"http://gw/\\nX\"\n").contains("pushgateway.url: holds a space, a line break"))
    }

    // MARK: The environment, checked as the file is

    func testVariablesGoThroughTheFilesFloorsAndCeilings() {
        XCTAssertEqual(error("", environment: ["VIGIL_SAMPLING_INTERVAL": "0s"]),
                       "environment: VIGIL_SAMPLING_INTERVAL: must be at least 100ms (try 5s)")
        XCTAssertEqual(error("", environment: ["VIGIL_SAMPLING_INTERVAL": "1e300s"]),
                       "environment: VIGIL_SAMPLING_INTERVAL: \"1e300s\" is too long (at most 1h)")
        XCTAssertEqual(error("", environment: ["VIGIL_SAMPLING_INTERVAL": "nans"]),
                       "environment: VIGIL_SAMPLING_INTERVAL: \"nans\" is not a duration (try 500ms, 5s, 2m or 1h)")
        XCTAssertEqual(error("", environment: ["OTEL_EXPORTER_OTLP_TIMEOUT": "9223372036854775807"]),
                       "environment: OTEL_EXPORTER_OTLP_TIMEOUT: \"9223372036854775807\" (milliseconds) is too long (at most 1h)")
        XCTAssertEqual(error("", environment: ["OTEL_METRIC_EXPORT_INTERVAL": "10"]),
                       "environment: OTEL_METRIC_EXPORT_INTERVAL: must be at least 1s (try 60s, in milliseconds)")
        XCTAssertEqual(error("", environment: ["VIGIL_METRICS_PATH": "metrics"]),
                       "environment: VIGIL_METRICS_PATH: \"metrics\" must start with / (try /metrics)")
        XCTAssertEqual(error("", environment: ["VIGIL_PUSHGATEWAY_URL": "gw:9091"]),
                       "environment: VIGIL_PUSHGATEWAY_URL: needs an http:// or https:// URL (try http://127.0.0.1:9091)")
        XCTAssertEqual(try SidecarConfig.parse("", file: "f", environment: ["VIGIL_SAMPLING_INTERVAL": "100ms"]).samplingInterval, .milliseconds(100))
    }

    func testALineBreakInAnOTLPHeaderVariableNeverReachesTheWire() {
        for variable in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_METRICS_HEADERS"] {
            let said = error("", environment: [variable: "api-key=secret%0D%0AX-Injected: 1"])
            XCTAssertEqual(said, "environment: \(variable): the value of header \"api-key\" holds a line break or control character (%0D, %0A and the like); it should hold the value alone, on one line")
            XCTAssertFalse(said.contains("secret"), "never quotes the value")
        }
        XCTAssertTrue(error("", environment: ["OTEL_EXPORTER_OTLP_HEADERS": "a b=c"]).contains("is not a header name"))
        XCTAssertEqual(try SidecarConfig.parse("", file: "f", environment: ["OTEL_EXPORTER_OTLP_HEADERS": "api-key=a%20b"]).otlp?.headers.first?.value, "a b")
    }

    func testSpanQueueVariablesPastAMillionSpansOrAnHourAreCutAndLongDurationsSaturate() {
        let huge = "9223372036854775807"
        let c = BatchSpanProcessor.Configuration.fromEnvironment(["OTEL_BSP_MAX_QUEUE_SIZE": huge, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": huge,
                                                                  "OTEL_BSP_SCHEDULE_DELAY": huge, "OTEL_BSP_EXPORT_TIMEOUT": huge])
        XCTAssertEqual(c.maxQueueSize, 1 << 20)
        XCTAssertEqual(c.maxExportBatchSize, 1 << 20)
        XCTAssertEqual(c.scheduleDelay, .seconds(3600))
        XCTAssertEqual(c.exportTimeout, .seconds(3600))
        XCTAssertEqual(Duration.seconds(Int64.max).milliseconds(atLeast: 1), .max)
        XCTAssertEqual(Duration.seconds(-Int64.max).milliseconds(atLeast: 1), 1)
        XCTAssertEqual(Duration.milliseconds(1500).milliseconds(), 1500)
    }

    func testAnErrorQuotesAtMostSixtyFourCharactersOfAKey() {
        let key = String(repeating: "k", count: 256 << 10)
        let said = error(key + ": 1\n")
        XCTAssertTrue(said.hasPrefix("vigil.yml:1: \(key.prefix(64))…: unknown key; allowed here: listen, "), String(said.prefix(200)))
        XCTAssertLessThan(said.utf8.count, 400)
        XCTAssertTrue(error(key + ": 1\n" + key + ": 2\n").contains("key \"\(key.prefix(64))…\" is given twice"))
    }
}
