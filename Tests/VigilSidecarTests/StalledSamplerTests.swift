import Foundation
import Logging
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Vigil
import VigilTestSupport
import XCTest
@testable import VigilSidecar

/// A /proc whose reads hang until the test opens the gate: a sweep stuck as one is behind a
/// process whose memory map is locked.
final class HangingProc: ProcSource {
    private let entered = Atomic<Bool>(false)
    private let open = Atomic<Bool>(false)
    private let gate = DispatchSemaphore(value: 0)

    var aReadIsHanging: Bool { entered.load(ordering: .acquiring) }

    func read(_ path: String) throws(ProcError) -> [UInt8] {
        if !open.load(ordering: .acquiring) {
            entered.store(true, ordering: .releasing)
            gate.wait()
        }
        throw .vanished(path: path)
    }

    func list(_ path: String) throws(ProcError) -> [String] { ["1"] }
    func readLink(_ path: String) throws(ProcError) -> String { throw .vanished(path: path) }

    /// Lets the hanging read (and every later one) return.
    func release() {
        open.store(true, ordering: .releasing)
        gate.signal()
    }
}

/// A flag one task raises and another watches.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func raise() { value.store(true, ordering: .releasing) }
    var isRaised: Bool { value.load(ordering: .acquiring) }
}

/// SIGTERM ends the sidecar within `shutdown_grace` whatever its sampler is doing.
final class StalledSamplerTests: XCTestCase {
    func testTheSamplerServiceAbandonsASweepStuckInAProcReadAtTheShutdownDeadline() async throws {
        let proc = HangingProc()
        defer { proc.release() }
        let sampler = try ResourceSampler(
            plugins: [PluginResources(name: "stuck", matchers: [try ProcessMatcher(.pid(1))])], registry: Registry(),
            interval: .milliseconds(100), source: proc, constants: SystemConstants(pageSize: 4096, clockTicksPerSecond: 100, bootTime: 0))
        let shutdown = ShutdownState(grace: .milliseconds(300))
        let service = SamplerService(sampler: sampler, shutdown: shutdown, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let returned = Flag()
        await testGracefulShutdown { trigger in
            let run = Task {
                try? await service.run()
                returned.raise()
            }
            do {
                try await waitUntil("the sweep to hang in a /proc read") { proc.aReadIsHanging }
                shutdown.begin()
                trigger.triggerGracefulShutdown()
                try await waitUntil("the sampler service to return with the sweep still hanging") { returned.isRaised }
                XCTAssertFalse(sampler.hasSampled, "the stuck sweep never finished: the service returned without it")
            } catch {
                XCTFail("\(error)")
            }
            run.cancel()
        }
    }

    /// A sweep held up in a /proc read stops the last-sweep time, while the figures stay: what
    /// `VigilSamplingStalled` compares with the clock. Released, the sweeps (and the time) go on.
    func testASamplerHeldUpShowsInItsLastSweepTime() async throws {
        let proc = HangingProc()
        defer { proc.release() }
        let registry = Registry()
        let sampler = try ResourceSampler(
            plugins: [PluginResources(name: "stuck", matchers: [try ProcessMatcher(.pid(1))])], registry: registry,
            interval: .milliseconds(50), source: proc, constants: SystemConstants(pageSize: 4096, clockTicksPerSecond: 100, bootTime: 0))
        func lastSweep() -> Double? {
            exposedSamples(Array(registry.renderString().utf8))["vigil_sampler_last_sweep_timestamp_seconds"]
        }
        XCTAssertEqual(lastSweep(), 0, "exported from the start, at 0 until a sweep finishes")
        sampler.start()
        try await waitUntil("the sweep to hang in a /proc read") { proc.aReadIsHanging }
        let hungSince = Date().timeIntervalSince1970
        try await waitUntil("ten intervals to pass") { Date().timeIntervalSince1970 - hungSince > 0.5 }
        XCTAssertEqual(lastSweep(), 0, "no sweep finished while one hangs")
        proc.release()
        try await waitUntil("sweeps to go on once the read returns") { (lastSweep() ?? 0) >= hungSince }
        await sampler.stop()
    }

    /// `vigil serve` with a nested-quantifier pattern and a process named to defeat a
    /// backtracking matcher: it becomes ready (every plugin sampled), the plugin listed after
    /// the pattern finds the process, its sweeps keep coming, and SIGTERM ends it in its grace.
    func testVigilServeWithAnAdversarialProcessStaysLiveAndStopsWithinItsGrace() async throws {
        let name = String(repeating: "a", count: 48) + "b"
        var pid: Int32 = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(name), strdup("600"), nil]
        let rc = posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ)
        argv.forEach { free($0) }
        XCTAssertEqual(rc, 0)
        defer {
            kill(pid, SIGKILL)
            waitpid(pid, nil, 0)
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-stall-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let grace = 2.0
        let config = folder.appendingPathComponent("vigil.yml").path
        try """
            listen: 127.0.0.1:0
            sampling_interval: 100ms
            shutdown_grace: \(Int(grace * 1000))ms
            plugins:
              - name: nested
                match: [{cmdline: "^(a+)+$"}]
              - name: after
                match: [{cmdline: "^a+b 600$"}]
              - name: itself
                match: [{self: true}]
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let child = try await VigilServeProcess(config: config, logPath: folder.appendingPathComponent("log").path)
        defer { child.stop() }
        try await waitUntil("/-/ready to answer 200 once every plugin is sampled") { try await child.request("GET", "/-/ready").status == 200 }
        try await waitUntil("the plugin after the nested pattern to find the adversary") {
            try await child.scrape()[#"vigil_plugin_processes{plugin="after"}"#] == 1
        }
        let samples = try await child.scrape()
        XCTAssertEqual(samples[#"vigil_plugin_processes{plugin="nested"}"#], 0)
        XCTAssertEqual(samples[#"vigil_plugin_processes{plugin="itself"}"#], 1)

        let started = ContinuousClock.now
        child.send(signal: SIGTERM)
        try await waitUntil(timeout: .seconds(grace + 5), "vigil serve to exit") { !child.process.isRunning }
        let took = started.duration(to: .now)
        XCTAssertLessThanOrEqual(took, .seconds(grace + 1), "shutdown_grace is \(grace) s; vigil took \(took)")
        XCTAssertEqual(child.process.terminationStatus, 0, child.log)
    }
}
