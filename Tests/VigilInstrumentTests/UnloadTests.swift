import Foundation
import VigilMetrics
import XCTest
@testable import VigilInstrument

/// A host loads, upgrades and unloads plugins; their series come and go with them.
final class UnloadTests: XCTestCase {
    func testLoadPublishesInfoAndStartTimeAndAnUpgradeReplacesTheVersion() throws {
        let registry = Registry()
        let observer = try PluginObserver(registry: registry)
        observer.load(plugin: "ocr", version: "1.0.0")
        observer.load(plugin: "translate")
        var text = registry.renderString()
        XCTAssertTrue(text.contains("vigil_plugin_info{plugin=\"ocr\",version=\"1.0.0\"} 1"), text)
        XCTAssertTrue(text.contains("vigil_plugin_info{plugin=\"translate\",version=\"\"} 1"), text)
        XCTAssertTrue(text.contains("vigil_plugin_start_time_seconds{plugin=\"ocr\"} 1"), text)  // seconds since 1970: 1.7e9…
        observer.load(plugin: "ocr", version: "1.1.0")
        text = registry.renderString()
        XCTAssertFalse(text.contains("version=\"1.0.0\""), text)
        XCTAssertTrue(text.contains("vigil_plugin_info{plugin=\"ocr\",version=\"1.1.0\"} 1"), text)
    }

    func testUnloadTakesEverySeriesOfThePluginOutOfTheNextScrapeAndLeavesTheOthers() async throws {
        let registry = Registry()
        let observer = try PluginObserver(registry: registry)
        observer.load(plugin: "words", version: "2")
        observer.load(plugin: "other")
        let words = WordCounter().observed(by: observer)
        _ = try await words.run("a b")
        _ = try? await words.run("a b c")  // Store throws for 3
        _ = try await Tokenize().observed(plugin: "other", by: observer).execute("x")
        XCTAssertTrue(registry.renderString().contains("plugin=\"words\""))

        XCTAssertGreaterThan(observer.unload(plugin: "words"), 0)
        let text = registry.renderString()
        XCTAssertFalse(text.contains("plugin=\"words\""), text)
        XCTAssertTrue(text.contains("vigil_phase_executions_total{plugin=\"other\",phase=\"tokenize\"} 1"), text)
        XCTAssertTrue(text.contains("vigil_plugin_info{plugin=\"other\",version=\"\"} 1"), text)

        _ = try await words.run("a b")  // a held observed plugin keeps working, unexported
        XCTAssertFalse(registry.renderString().contains("plugin=\"words\""))
        _ = try await WordCounter().observed(by: observer).run("a b")  // observed again: exported afresh
        XCTAssertTrue(registry.renderString().contains("vigil_phase_executions_total{plugin=\"words\",phase=\"store\"} 1"))
    }

    func testAnUnregisteredBreakerLeavesTheExpositionEvenWhenOpen() throws {
        let registry = Registry()
        var configuration = CircuitBreaker.Configuration()
        configuration.policy = .consecutiveFailures(1)
        let breaker = try CircuitBreaker(plugin: "p", name: "b", configuration: configuration, registry: registry)
        let other = try CircuitBreaker(plugin: "q", name: "b", registry: registry)
        XCTAssertThrowsError(try breaker.run { () throws -> Int in throw Count.TooMany() })
        XCTAssertEqual(breaker.state, .open)
        breaker.unregister()
        let text = registry.renderString()
        XCTAssertFalse(text.contains("plugin=\"p\""), text)
        XCTAssertTrue(text.contains("vigil_breaker_state{plugin=\"q\",breaker=\"b\",state=\"closed\"} 1"), text)
        _ = other
    }

    func testAHeldBreakerRejectsWithoutProbingUntilReleased() throws {
        let registry = Registry()
        let clock = ManualClock()
        let log = TransitionLog()
        let breaker = try CircuitBreaker(plugin: "p", name: "b", registry: registry, clock: { clock.now() }, onStateChange: { log.append($0) })
        breaker.hold(open: true, reason: "over its memory limit")
        breaker.hold(open: true, reason: "again")  // already held: nothing happens
        XCTAssertEqual(breaker.state, .open)
        clock.advance(.seconds(3600))
        XCTAssertEqual(breaker.state, .open, "a held breaker does not go half-open after the open timeout")
        XCTAssertThrowsError(try breaker.run { 1 }) { XCTAssertTrue($0 is CircuitOpenError) }
        breaker.hold(open: false, reason: "back under its limits")
        XCTAssertEqual(breaker.state, .closed)
        XCTAssertEqual(try breaker.run { 2 }, 2)
        let text = registry.renderString()
        XCTAssertTrue(text.contains("vigil_breaker_trips_total{plugin=\"p\",breaker=\"b\"} 1"), text)
        XCTAssertTrue(text.contains("vigil_breaker_rejected_calls_total{plugin=\"p\",breaker=\"b\"} 1"), text)
        XCTAssertEqual(log.all.map { "\($0.from.rawValue)->\($0.to.rawValue): \($0.reason)" },
                       ["closed->open: over its memory limit", "open->closed: back under its limits"])
    }
}
