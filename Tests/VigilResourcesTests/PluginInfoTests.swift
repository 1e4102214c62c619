import Foundation
import VigilContract
import VigilMetrics
import XCTest
@testable import VigilResources

/// `vigil_plugin_info{plugin,version}` and `vigil_plugin_start_time_seconds{plugin}` for every
/// plugin the sampler watches, from the moment it is watched.
final class PluginInfoTests: XCTestCase {
    func plugin(_ name: String, version: String? = nil) throws -> PluginResources {
        PluginResources(name: name, matchers: [try ProcessMatcher(.currentProcess)], version: version)
    }

    func startTime(_ registry: Registry, _ plugin: String) -> Double? {
        registry.sample("vigil_plugin_start_time_seconds{plugin=\"\(plugin)\"}")
    }

    func testEveryWatchedPluginHasInfoAndTheWallClockTimeItWasFirstWatched() throws {
        let registry = Registry()
        let before = Date().timeIntervalSince1970
        _ = try ResourceSampler(plugins: [try plugin("ocr", version: "2.4.1"), try plugin("asr")], registry: registry)
        let after = Date().timeIntervalSince1970
        XCTAssertEqual(registry.sample("vigil_plugin_info{plugin=\"ocr\",version=\"2.4.1\"}"), 1, "before any sample")
        XCTAssertEqual(registry.sample("vigil_plugin_info{plugin=\"asr\",version=\"\"}"), 1, "no version: the empty value")
        let start = try XCTUnwrap(startTime(registry, "ocr"))
        XCTAssertGreaterThanOrEqual(start, before - 0.001)
        XCTAssertLessThanOrEqual(start, after + 0.001)
    }

    func testAReloadKeepsTheStartTimeOfPluginsThatStayAndFollowsTheirVersion() throws {
        let registry = Registry()
        let s = try ResourceSampler(plugins: [try plugin("ocr", version: "1"), try plugin("gone")], registry: registry)
        let ocrStart = try XCTUnwrap(startTime(registry, "ocr"))
        try s.update(plugins: [try plugin("ocr", version: "2"), try plugin("new")])
        XCTAssertEqual(startTime(registry, "ocr"), ocrStart)
        XCTAssertNil(registry.sample("vigil_plugin_info{plugin=\"ocr\",version=\"1\"}"))
        XCTAssertEqual(registry.sample("vigil_plugin_info{plugin=\"ocr\",version=\"2\"}"), 1)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(startTime(registry, "new")), ocrStart)
        XCTAssertFalse(registry.renderString().contains("plugin=\"gone\""))
        s.remove(plugin: "ocr")
        XCTAssertFalse(registry.renderString().contains("plugin=\"ocr\""))
    }

    func testTheFamiliesAreSharedWithWhoeverRegistersTheSameDescriptor() throws {
        let registry = Registry()
        _ = try ResourceSampler(plugins: [try plugin("ocr", version: "1")], registry: registry)
        // What an in-process PluginObserver does for a plugin it runs.
        let info = try registry.register(VigilMetric.pluginInfo)
        info.labels("inproc", "3").set(1)
        XCTAssertEqual(info.labels("ocr", "1").value, 1)
        let text = registry.renderString()
        XCTAssertEqual(text.components(separatedBy: "# TYPE vigil_plugin_info gauge").count, 2, "one family:\n\(text)")
        XCTAssertTrue(text.contains("vigil_plugin_info{plugin=\"inproc\",version=\"3\"} 1\n"), text)
    }
}
