import Foundation
@testable import VigilSidecar
import XCTest

/// Seeded mutations of the hostile corpus and of the reference config through the whole parser
/// (`SidecarConfig.parse`, environment included): every input parses or throws a ConfigError, and
/// what parses stays inside the documented bounds. A trap or a stack overflow ends the test run,
/// which fails it. VIGIL_FUZZ_ITERATIONS sets how many mutants (`make fuzz` runs 20,000);
/// scripts/fuzz/run fuzzes the YAML reader alone, coverage-guided, with libFuzzer.
final class ConfigFuzzTests: XCTestCase {
    static let iterations = ProcessInfo.processInfo.environment["VIGIL_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? 2000

    /// Tokens a mutation inserts: YAML's structure, and the values that once trapped.
    static let tokens: [[UInt8]] = [
        "[", "]", "{", "}", ": ", "- ", ", ", "\n", "\r\n", "\r", "\t", "  ", " #", "\"", "'", "\\", "\\x", "\\U0011FFFF", "|", ">", "|9-",
        "&a ", "*a", "!!str ", "? ", "---\n", "...\n", "%YAML 1.2\n", "\u{FEFF}", "1e300s", "1e400s", "-5s", "0s", "nans", "infs",
        "99999999999999999999", "99999999999999999999TiB", "-1", "1e999", "0x10", "500ms", "plugins:\n  - ", "name: p\n", "match: [{comm: w}]",
        "limits: {memory: 1GiB}", "on_limit: {for: ", "sampling_interval: ", "shutdown_grace: ", "otlp: {headers: {a: ",
    ].map { Array($0.utf8) } + [[0xFF], [0x00], [0xC3], [0xE2, 0x82], [0x80]]

    static let variables = ["VIGIL_SAMPLING_INTERVAL", "VIGIL_METRICS_PATH", "VIGIL_PUSHGATEWAY_URL", "VIGIL_LISTEN", "OTEL_EXPORTER_OTLP_HEADERS",
                            "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_METRIC_EXPORT_INTERVAL", "OTEL_METRIC_EXPORT_TIMEOUT", "OTEL_METRICS_EXPORTER"]
    static let values = ["0s", "1e300s", "100ms", "nans", "9223372036854775807", "99999999999999999999", "-1", "10", "1000", "a=b%0D%0Ac: d",
                         "a=b", "/metrics", "/m\r\nX", "http://gw:9091", "ftp://x", "otlp", "127.0.0.1:0", "", "\u{7F}"]

    func seeds() throws -> [[UInt8]] {
        var seeds = try HostileConfigs.paths().map { Array(try Data(contentsOf: URL(fileURLWithPath: $0))) }
        let reference = HostileConfigs.directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("config/vigil.yml")
        seeds.append(Array(try Data(contentsOf: reference)))
        // The big seeds are mutated at their start: the deep ones stay deep, the long ones long.
        return seeds.map { $0.count > 8192 ? Array($0.prefix(8192)) : $0 }
    }

    func mutate(_ input: [UInt8], _ seeds: [[UInt8]], _ g: inout SeededGenerator) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &g) {
            let at = bytes.isEmpty ? 0 : Int.random(in: 0...bytes.count, using: &g)
            switch Int.random(in: 0..<7, using: &g) {
            case 0: if at < bytes.count { bytes[at] = UInt8.random(in: 0...255, using: &g) }
            case 1: bytes.insert(contentsOf: Self.tokens.randomElement(using: &g)!, at: at)
            case 2: bytes = Array(bytes.prefix(at))
            case 3: if at < bytes.count { bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...16, using: &g))) }
            case 4:
                let open = Bool.random(using: &g) ? "[" : "{a: "
                bytes.insert(contentsOf: Array(String(repeating: open, count: Int.random(in: 1...200, using: &g)).utf8), at: at)
            case 5:
                let other = seeds.randomElement(using: &g)!
                let from = Int.random(in: 0...other.count, using: &g)
                bytes.insert(contentsOf: other[from..<min(other.count, from + Int.random(in: 1...256, using: &g))], at: at)
            default:
                if at < bytes.count { bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + 64)], at: at) }
            }
        }
        return bytes
    }

    func testMutatedConfigurationsParseOrThrowAConfigErrorAndStayInBounds() throws {
        let seeds = try seeds()
        var g = SeededGenerator(state: 0x5EED_0019)
        var parsed = 0, refused = 0
        for i in 0..<Self.iterations {
            let bytes = mutate(seeds[i % seeds.count], seeds, &g)
            var environment: [String: String] = [:]
            if Int.random(in: 0..<4, using: &g) == 0 {
                environment[Self.variables.randomElement(using: &g)!] = Self.values.randomElement(using: &g)!
            }
            do {
                let config = try SidecarConfig.parse(String(decoding: bytes, as: UTF8.self), file: "fuzz.yml", environment: environment)
                parsed += 1
                check(config, input: bytes, environment)
            } catch {
                refused += 1
                XCTAssertTrue(error.description.hasPrefix("fuzz.yml") || error.file == "environment", "\(error)")
            }
        }
        XCTAssertGreaterThan(refused, 0)
        print("ConfigFuzzTests: \(Self.iterations) mutants, \(parsed) parsed, \(refused) refused, no trap")
    }

    /// What a configuration that parsed may hold: durations inside their ranges, headers that
    /// cannot split a request.
    func check(_ c: SidecarConfig, input: [UInt8], _ environment: [String: String]) {
        let why = "input: \(String(decoding: input.prefix(300), as: UTF8.self).debugDescription) environment: \(environment)"
        XCTAssertTrue(c.samplingInterval >= .milliseconds(100) && c.samplingInterval <= .seconds(3600), why)
        XCTAssertTrue(c.shutdownGrace <= .seconds(3600), why)
        for policy in c.plugins.compactMap(\.onLimit) { XCTAssertTrue(policy.sustainedFor <= DurationRange.ceiling, why) }
        if let push = c.pushgateway { XCTAssertTrue(push.interval >= .milliseconds(100) && push.interval <= DurationRange.ceiling, why) }
        for header in (c.otlp?.headers ?? []) + c.otlpMetrics.headers {
            XCTAssertTrue(SidecarConfig.isOneLine(header.value) && SidecarConfig.headerNameProblem(header.name) == nil, why)
        }
    }
}
