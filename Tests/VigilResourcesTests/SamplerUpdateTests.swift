import VigilMetrics
import XCTest
@testable import VigilResources

/// `update(plugins:)` is what a configuration reload does to the sampler.
final class SamplerUpdateTests: XCTestCase {
    func plugin(_ name: String, memory: UInt64? = nil) throws -> PluginResources {
        PluginResources(name: name, matchers: [try ProcessMatcher(.currentProcess)], limits: ResourceLimits(memoryBytes: memory))
    }

    func testAddedPluginsStartRemovedOnesLeaveAndKeptOnesKeepTheirCounters() throws {
        let registry = Registry()
        let sampler = try ResourceSampler(plugins: [try plugin("kept", memory: 1), try plugin("gone")], registry: registry)
        sampler.sampleNow()
        sampler.sampleNow()
        let violationsBefore = sampler.state.withLock { $0.plugins["kept"]?.violations[.memoryBytes] }
        XCTAssertEqual(violationsBefore, 1, "1 byte of memory is exceeded at once")
        let cpuBefore = try XCTUnwrap(sampler.usage["kept"]).userSeconds + sampler.usage["kept"]!.systemSeconds

        let update = try sampler.update(plugins: [try plugin("kept", memory: 2), try plugin("new")])
        XCTAssertEqual(update, ResourceSampler.Update(added: ["new"], removed: ["gone"], changed: ["kept"], unchanged: []))
        sampler.sampleNow()
        let text = registry.renderString()
        XCTAssertFalse(text.contains("plugin=\"gone\""), text)
        XCTAssertTrue(text.contains("vigil_plugin_processes{plugin=\"new\"} 1"), text)
        XCTAssertTrue(text.contains("vigil_plugin_limit{plugin=\"kept\",resource=\"memory_bytes\"} 2"), text)
        XCTAssertTrue(text.contains("vigil_plugin_limit_violations_total{plugin=\"kept\",resource=\"memory_bytes\"} 1"), text)
        let kept = try XCTUnwrap(sampler.usage["kept"])
        XCTAssertGreaterThanOrEqual(kept.userSeconds + kept.systemSeconds, cpuBefore, "CPU time never goes back over a reload")
    }

    func testALimitThatIsGoneNoLongerCountsAsExceeded() throws {
        let registry = Registry()
        let sampler = try ResourceSampler(plugins: [try plugin("p", memory: 1)], registry: registry)
        sampler.sampleNow()
        XCTAssertTrue(registry.renderString().contains("vigil_plugin_limit_exceeded{plugin=\"p\",resource=\"memory_bytes\"} 1"))
        try sampler.update(plugins: [try plugin("p")])
        sampler.sampleNow()
        XCTAssertFalse(registry.renderString().contains("vigil_plugin_limit_exceeded{plugin=\"p\""))
        XCTAssertEqual(try sampler.update(plugins: [try plugin("p")]).unchanged, ["p"])
    }

    func testAReloadWithTheSameNameTwiceIsRefusedAndChangesNothing() throws {
        let sampler = try ResourceSampler(plugins: [try plugin("p")], registry: Registry())
        XCTAssertThrowsError(try sampler.update(plugins: [try plugin("q"), try plugin("q")]))
        XCTAssertEqual(sampler.plugins.map(\.name), ["p"])
        XCTAssertTrue(sampler.remove(plugin: "p"))
        XCTAssertFalse(sampler.remove(plugin: "p"))
        XCTAssertTrue(sampler.plugins.isEmpty)
    }
}
