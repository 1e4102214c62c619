import Foundation
import Synchronization
import VigilMetrics
import VigilTestSupport
import XCTest
@testable import VigilInstrument

final class ManualClock: Sendable {
    let nanoseconds = Atomic<Int64>(1_000_000_000)
    func advance(_ d: Duration) { nanoseconds.wrappingAdd(d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000, ordering: .relaxed) }
    func now() -> Duration { .nanoseconds(nanoseconds.load(ordering: .relaxed)) }
}

struct Failure: Error {}

final class CircuitBreakerTests: XCTestCase {
    func breaker(_ configure: (inout CircuitBreaker.Configuration) -> Void = { _ in }) throws -> (CircuitBreaker, Registry, ManualClock, TransitionLog) {
        let registry = Registry()
        let clock = ManualClock()
        let log = TransitionLog()
        var config = CircuitBreaker.Configuration()
        config.openTimeout = .seconds(30)
        configure(&config)
        let b = try CircuitBreaker(plugin: "ocr", name: "backend", configuration: config, registry: registry,
                                   clock: { clock.now() }, onStateChange: { log.append($0) })
        return (b, registry, clock, log)
    }

    func series(_ registry: Registry) -> [String] {
        registry.renderString().split(separator: "\n").filter { $0.hasPrefix("vigil_breaker") }.map(String.init)
    }

    func fail(_ b: CircuitBreaker) { _ = try? b.run { () throws -> Int in throw Failure() } }
    func succeed(_ b: CircuitBreaker) throws { _ = try b.run { 1 } }

    func testTripsAfterConsecutiveFailuresRejectsWhileOpenProbesAndRecovers() throws {
        let (b, registry, clock, log) = try breaker()
        XCTAssertEqual(series(registry), [
            "vigil_breaker_rejected_calls_total{plugin=\"ocr\",breaker=\"backend\"} 0",
            "vigil_breaker_state{plugin=\"ocr\",breaker=\"backend\",state=\"closed\"} 1",
            "vigil_breaker_state{plugin=\"ocr\",breaker=\"backend\",state=\"half_open\"} 0",
            "vigil_breaker_state{plugin=\"ocr\",breaker=\"backend\",state=\"open\"} 0",
            "vigil_breaker_trips_total{plugin=\"ocr\",breaker=\"backend\"} 0",
        ])
        for _ in 0..<4 { fail(b) }
        try succeed(b)  // a success resets the run of failures
        for _ in 0..<4 { fail(b) }
        XCTAssertEqual(b.state, .closed)
        fail(b)
        XCTAssertEqual(b.state, .open)
        XCTAssertThrowsError(try succeed(b)) { XCTAssertTrue($0 is CircuitOpenError) }
        XCTAssertThrowsError(try succeed(b))
        var s = series(registry)
        XCTAssertTrue(s.contains("vigil_breaker_state{plugin=\"ocr\",breaker=\"backend\",state=\"open\"} 1"), "\(s)")
        XCTAssertTrue(s.contains("vigil_breaker_state{plugin=\"ocr\",breaker=\"backend\",state=\"closed\"} 0"))
        XCTAssertTrue(s.contains("vigil_breaker_trips_total{plugin=\"ocr\",breaker=\"backend\"} 1"))
        XCTAssertTrue(s.contains("vigil_breaker_rejected_calls_total{plugin=\"ocr\",breaker=\"backend\"} 2"))
        clock.advance(.seconds(29))
        XCTAssertThrowsError(try succeed(b))
        clock.advance(.seconds(1))
        XCTAssertEqual(b.state, .halfOpen)
        try succeed(b)  // the one probe succeeds
        XCTAssertEqual(b.state, .closed)
        s = series(registry)
        XCTAssertTrue(s.contains("vigil_breaker_state{plugin=\"ocr\",breaker=\"backend\",state=\"closed\"} 1"), "\(s)")
        XCTAssertTrue(s.contains("vigil_breaker_state{plugin=\"ocr\",breaker=\"backend\",state=\"half_open\"} 0"))
        XCTAssertEqual(log.all.map { "\($0.from.rawValue)->\($0.to.rawValue)" }, ["closed->open", "open->half_open", "half_open->closed"])
    }

    func testAFailedProbeReopensAndCountsASecondTrip() throws {
        let (b, registry, clock, _) = try breaker { $0.policy = .consecutiveFailures(2) }
        fail(b); fail(b)
        clock.advance(.seconds(30))
        fail(b)
        XCTAssertEqual(b.state, .open)
        XCTAssertTrue(series(registry).contains("vigil_breaker_trips_total{plugin=\"ocr\",breaker=\"backend\"} 2"))
    }

    func testHalfOpenLetsOnlyTheConfiguredProbesThrough() async throws {
        let (b, registry, clock, _) = try breaker { $0.policy = .consecutiveFailures(1); $0.halfOpenProbes = 2 }
        fail(b)
        clock.advance(.seconds(30))
        let gate = AsyncGate()
        async let first: Int = b.run { await gate.wait(); return 1 }
        async let second: Int = b.run { await gate.wait(); return 2 }
        try await waitUntil("both probes to be running") { await gate.waiting == 2 }
        XCTAssertThrowsError(try succeed(b), "a third call while two probes run is rejected")
        await gate.open()
        _ = try await (first, second)
        XCTAssertEqual(b.state, .closed)
        XCTAssertTrue(series(registry).contains("vigil_breaker_rejected_calls_total{plugin=\"ocr\",breaker=\"backend\"} 1"))
    }

    func testFailureRatioPolicyOverARollingWindow() throws {
        let (b, _, clock, _) = try breaker { $0.policy = .failureRatio(0.5, minimumRequests: 4, window: .seconds(10)) }
        fail(b); fail(b); fail(b)  // three failures, but fewer than four calls
        XCTAssertEqual(b.state, .closed)
        clock.advance(.seconds(11))  // they leave the window
        try succeed(b); try succeed(b); fail(b)
        XCTAssertEqual(b.state, .closed)
        fail(b)  // 2 of 4 failed
        XCTAssertEqual(b.state, .open)
    }

    func testErrorsTheHostDoesNotCountLeaveTheBreakerClosed() throws {
        struct NotFound: Error {}
        let (b, _, _, _) = try breaker { $0.policy = .consecutiveFailures(1); $0.isFailure = { !($0 is NotFound) } }
        _ = try? b.run { () throws -> Int in throw NotFound() }
        XCTAssertEqual(b.state, .closed)
    }

    func testGuardedPhaseRejectionsShowAsCircuitOpenErrors() async throws {
        let registry = Registry()
        let observer = try PluginObserver(registry: registry)
        var config = CircuitBreaker.Configuration()
        config.policy = .consecutiveFailures(1)
        let b = try CircuitBreaker(plugin: "p", name: "b", configuration: config, registry: registry)
        struct Flaky: Phase {
            var name: String { "call" }
            func execute(_ input: Int) async throws -> Int { throw Failure() }
        }
        let phase = Flaky().guarded(by: b).observed(plugin: "p", by: observer)
        _ = try? await phase.execute(1)
        _ = try? await phase.execute(1)
        let text = registry.renderString()
        XCTAssertTrue(text.contains("vigil_phase_errors_total{plugin=\"p\",phase=\"call\",error_type=\"Failure\"} 1\n"), text)
        XCTAssertTrue(text.contains("vigil_phase_errors_total{plugin=\"p\",phase=\"call\",error_type=\"circuit_open\"} 1\n"), text)
    }
}

final class TransitionLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [CircuitBreaker.Transition] = []
    func append(_ t: CircuitBreaker.Transition) { lock.withLock { items.append(t) } }
    var all: [CircuitBreaker.Transition] { lock.withLock { items } }
}

actor AsyncGate {
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var isOpen = false
    /// Calls held at the gate now.
    var waiting: Int { waiters.count }
    func wait() async { if isOpen { return }; await withCheckedContinuation { waiters.append($0) } }
    func open() { isOpen = true; waiters.forEach { $0.resume() }; waiters.removeAll() }
}
