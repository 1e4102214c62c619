import Foundation
import VigilMetrics
import VigilTestSupport
import XCTest
@testable import VigilResources

/// Process churn and limit actions with real processes: workers that die and come back,
/// children the test reaps itself, and a child that grows past its memory limit.
final class LiveLifecycleTests: XCTestCase {
    let registry = Registry()
    let log = HostLog()
    let mebibyte: UInt64 = 1_048_576

    func value(_ series: String) -> Double? { registry.sample(series) }

    func testAWorkerThatIsKilledAndRestartedIsAnUnknownExitAndAStart() throws {
        let token = Workload.newToken()
        var worker = try Workload([], token: token)
        let s = try ResourceSampler(
            plugins: [PluginResources(name: "svc", matchers: [try ProcessMatcher(.commandLine("workload\\.py \(token)"))])],
            registry: registry)
        XCTAssertEqual(s.sampleNow()["svc"]?.processes, 1)
        worker.stop()  // SIGTERM, reaped by Foundation: the sampler is not told
        worker = try Workload([], token: token)
        XCTAssertEqual(s.sampleNow()["svc"]?.processes, 1)
        XCTAssertEqual(value("vigil_plugin_process_starts_total{plugin=\"svc\"}"), 1)
        XCTAssertEqual(value("vigil_plugin_process_exits_total{plugin=\"svc\",reason=\"unknown\"}"), 1)
    }

    func testAChildTheHostReapsIsCountedWithTheReasonItsWaitStatusGives() throws {
        let child = try SpawnedChild(["/bin/sleep", "60"])
        let s = try ResourceSampler(
            plugins: [PluginResources(name: "kid", matchers: [try ProcessMatcher(.pid(child.pid))])], registry: registry)
        XCTAssertEqual(s.sampleNow()["kid"]?.processes, 1)
        let status = try child.terminate(with: SIGTERM)
        XCTAssertEqual(s.recordExit(plugin: "kid", pid: child.pid, waitStatus: status), .counted(reason: "signal_term"))
        XCTAssertEqual(s.sampleNow()["kid"]?.processes, 0)
        XCTAssertEqual(value("vigil_plugin_process_exits_total{plugin=\"kid\",reason=\"signal_term\"}"), 1)
        XCTAssertEqual(value("vigil_plugin_process_exits_total{plugin=\"kid\",reason=\"unknown\"}"), 0, "not counted twice")
    }

    func testAWorkerThatExitsWithAnErrorIsCountedAsFailed() throws {
        let worker = try Workload([])
        let s = try ResourceSampler(
            plugins: [PluginResources(name: "w", matchers: [try ProcessMatcher(.pid(worker.pid))])], registry: registry)
        s.sampleNow()
        let status = worker.exit(code: 3)
        XCTAssertEqual(status, .exited(3))
        XCTAssertEqual(s.recordExit(plugin: "w", pid: worker.pid, status: status), .counted(reason: "failed"))
        s.sampleNow()
        XCTAssertEqual(value("vigil_plugin_process_exits_total{plugin=\"w\",reason=\"failed\"}"), 1)
        XCTAssertEqual(value("vigil_plugin_process_exits_total{plugin=\"w\",reason=\"unknown\"}"), 0)
    }

    func testAChildThatStaysOverItsMemoryLimitIsSentTERMOnceTheDurationHasPassed() async throws {
        let hog = try Workload([])
        let s = try ResourceSampler(
            plugins: [PluginResources(
                name: "hog", matchers: [try ProcessMatcher(.pid(hog.pid))], owners: ProcessOwners(uids: [getuid()]),
                limits: ResourceLimits(memoryBytes: 32 * mebibyte), onLimit: LimitPolicy(for: .milliseconds(300), action: .signal(SIGTERM)))],
            registry: registry, interval: .milliseconds(50), onLimitEvent: log.record)
        s.start()
        try hog.send("grow 48")
        try await waitUntil("the hog to be sent SIGTERM and exit") { !hog.process.isRunning }
        await s.stop()
        XCTAssertEqual(hog.process.terminationReason, .uncaughtSignal)
        XCTAssertEqual(hog.process.terminationStatus, SIGTERM)
        XCTAssertEqual(value("vigil_plugin_limit_actions_total{plugin=\"hog\",resource=\"memory_bytes\",action=\"signal\"}"), 1)
        let taken = try XCTUnwrap(log.actions.first)
        XCTAssertEqual(log.actions.count, 1)
        XCTAssertEqual(taken.pids, [hog.pid])
        XCTAssertEqual(taken.failures, [])
        XCTAssertGreaterThanOrEqual(taken.exceededFor, .milliseconds(300), "not before the limit stayed exceeded for 300 ms")
    }

    func testADryRunIsCountedAndTheChildLivesOn() throws {
        let hog = try Workload(["mem", "48"])
        let s = try ResourceSampler(
            plugins: [PluginResources(
                name: "hog", matchers: [try ProcessMatcher(.pid(hog.pid))], limits: ResourceLimits(memoryBytes: 32 * mebibyte),
                onLimit: LimitPolicy(for: .milliseconds(300), action: .signal(SIGKILL), dryRun: true))],
            registry: registry, onLimitEvent: log.record)
        s.sampleNow()
        let over = monotonicSeconds()
        try blockUntil("300 ms over the limit") { monotonicSeconds() - over >= 0.3 }
        s.sampleNow()
        s.sampleNow()
        XCTAssertEqual(value("vigil_plugin_limit_actions_total{plugin=\"hog\",resource=\"memory_bytes\",action=\"dry_run\"}"), 1)
        XCTAssertEqual(log.actions.map(\.pids), [[hog.pid]])
        try hog.send("free")  // it answers: no SIGKILL reached it
        XCTAssertTrue(hog.process.isRunning)
    }

    func testTheBreakerHookOpensWhileTheChildIsOverAndClosesOnceItIsBackUnder() async throws {
        let hog = try Workload(["mem", "48"])
        let s = try ResourceSampler(
            plugins: [PluginResources(
                name: "hog", matchers: [try ProcessMatcher(.pid(hog.pid))], limits: ResourceLimits(memoryBytes: 32 * mebibyte),
                onLimit: LimitPolicy(for: .milliseconds(300), action: .breaker))],
            registry: registry, interval: .milliseconds(50), onLimitEvent: log.record, onBreaker: log.breaker)
        s.start()
        try await waitUntil("the breakers to open") { log.breakerCalls == [true] }
        try hog.send("free")
        try await waitUntil("the breakers to close") { log.breakerCalls == [true, false] }
        await s.stop()
        XCTAssertEqual(value("vigil_plugin_limit_actions_total{plugin=\"hog\",resource=\"memory_bytes\",action=\"breaker\"}"), 1)
        XCTAssertTrue(hog.process.isRunning)
    }
}

/// A child started with posix_spawn(3) and reaped with waitpid(2) by the test itself, as a
/// plugin host does, so that the raw wait status is the test's to read.
final class SpawnedChild {
    let pid: pid_t
    private var reaped = false

    init(_ arguments: [String]) throws {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The test runner may block or ignore SIGTERM; the child starts with neither.
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, arguments[0], nil, &attributes, argv, environ)
        guard code == 0 else { throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EINVAL) }
        self.pid = pid
    }

    /// Sends `signal` and reaps the child; returns the raw status waitpid(2) gave.
    func terminate(with signal: Int32) throws -> Int32 {
        kill(pid, signal)
        var status: Int32 = 0
        guard waitpid(pid, &status, 0) == pid else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECHILD) }
        reaped = true
        return status
    }

    deinit {
        if !reaped {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
}
