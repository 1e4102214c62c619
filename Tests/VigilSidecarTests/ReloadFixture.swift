import Foundation
import Vigil
import VigilTestSupport
import XCTest

/// The configuration files the reload tests write and rewrite, in a folder of their own, and
/// the checks that a reload from the first file to the second applied.
///
/// The first file watches `keep` (the sidecar's own process, and a pid file that does not exist,
/// so that `vigil_sample_errors_total{plugin="keep",reason="vanished"}` counts every sample: a
/// counter that would start again from 0 if the reload lost it), `going` (the test process) and
/// `limited` (a 1 GiB memory limit). The second drops `going`, adds `coming` (the test process)
/// and raises `limited` to 2 GiB.
struct ReloadFixture {
    enum Plugin {
        case keep, going, coming, limited(memory: String)
        /// A memory limit that is not a size: the file is wrong.
        case broken
    }

    let directory: URL
    var configPath: String { directory.appendingPathComponent("vigil.yml").path }
    var logPath: String { directory.appendingPathComponent("vigil.log").path }

    static let first: [Plugin] = [.keep, .going, .limited(memory: "1GiB")]
    static let second: [Plugin] = [.keep, .limited(memory: "2GiB"), .coming]

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// The file's text: `plugins` under the settings the tests share, with `extra` settings after.
    func yaml(_ plugins: [Plugin], extra: String = "") -> String {
        var text = "listen: 127.0.0.1:0\nsampling_interval: 100ms\nshutdown_grace: 2s\n" + extra + "plugins:\n"
        for plugin in plugins {
            switch plugin {
            case .keep:
                text += "  - name: keep\n    match:\n      - self: true\n"
                text += "      - pid_file: \(directory.appendingPathComponent("absent.pid").path)\n"
            case .going: text += "  - name: going\n    match:\n      - pid: \(getpid())\n"
            case .coming: text += "  - name: coming\n    match:\n      - pid: \(getpid())\n"
            case .limited(let memory): text += "  - name: limited\n    match:\n      - self: true\n    limits:\n      memory: \(memory)\n"
            case .broken: text += "  - name: broken\n    match:\n      - self: true\n    limits:\n      memory: 12QB\n"
            }
        }
        return text
    }

    /// Writes the file (replacing it whole, as an editor that renames over it does).
    func write(_ plugins: [Plugin], extra: String = "") throws {
        try yaml(plugins, extra: extra).write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// How the broken plugin's error begins: `…/vigil.yml:LINE: plugins[N].limits.memory: "12QB" is not a size`.
    func brokenError(_ plugins: [Plugin]) throws -> String {
        let lines = yaml(plugins).split(separator: "\n", omittingEmptySubsequences: false)
        let line = try XCTUnwrap(lines.firstIndex { $0.contains("12QB") }) + 1
        let index = try XCTUnwrap(plugins.firstIndex { if case .broken = $0 { true } else { false } })
        return "\(configPath):\(line): plugins[\(index)].limits.memory: \"12QB\" is not a size"
    }

    // MARK: Checks

    static let keepErrors = #"vigil_sample_errors_total{plugin="keep",reason="vanished"}"#
    static let keepCPU = #"vigil_plugin_cpu_seconds_total{plugin="keep",mode="user"}"#
    static let reloadSuccessful = "vigil_config_last_reload_successful"
    static let reloadTimestamp = "vigil_config_last_reload_success_timestamp_seconds"

    /// Waits until the first file's plugins are all sampled and `keep`'s error counter has
    /// counted a few samples, and returns that scrape.
    static func waitForFirstFile(_ scrape: () async throws -> [String: Double]) async throws -> [String: Double] {
        var samples: [String: Double] = [:]
        try await waitUntil("the first file's plugins in a scrape, keep's errors counted five times") {
            samples = try await scrape()
            return samples[#"vigil_plugin_processes{plugin="going"}"#] == 1 && (samples[keepErrors] ?? 0) >= 5
                && samples[#"vigil_plugin_processes{plugin="limited"}"#] == 1
        }
        return samples
    }

    /// Waits for the first sample after the reload to the second file and for the reload's
    /// success timestamp to move on from `before`'s, and checks that sample: `going` has no series
    /// left, `limited` has its new limit, and `keep`'s counters went on from where `before` had them.
    static func checkSecondFileApplied(after before: [String: Double], _ scrape: () async throws -> [String: Double],
                                       file: StaticString = #filePath, line: UInt = #line) async throws {
        var samples: [String: Double] = [:]
        // The gauges are set just after the sampler takes the plugins: wait for both.
        try await waitUntil("the added plugin, coming, in a scrape, and a newer reload timestamp", file: file, line: line) {
            samples = try await scrape()
            return samples[#"vigil_plugin_processes{plugin="coming"}"#] == 1
                && (samples[reloadTimestamp] ?? 0) > (before[reloadTimestamp] ?? .infinity)
        }
        let leftovers = samples.keys.filter { $0.contains(#"plugin="going""#) }.sorted()
        XCTAssertEqual(leftovers, [], "the removed plugin's series are gone", file: file, line: line)
        XCTAssertEqual(samples[#"vigil_plugin_limit{plugin="limited",resource="memory_bytes"}"#], 2 * 1024 * 1024 * 1024,
                       "the changed limit applies", file: file, line: line)
        XCTAssertGreaterThanOrEqual(samples[keepErrors] ?? -1, before[keepErrors] ?? .infinity,
                                    "keep's error counter went on, not from 0", file: file, line: line)
        XCTAssertGreaterThanOrEqual(samples[keepCPU] ?? -1, before[keepCPU] ?? .infinity,
                                    "keep's CPU counter did not go back", file: file, line: line)
        XCTAssertEqual(samples[reloadSuccessful], 1, file: file, line: line)
    }
}
