import Foundation
import VigilContract
import VigilMetrics
import XCTest
@testable import VigilResources

/// `vigil_plugin_process_starts_total` and `vigil_plugin_process_exits_total`: processes that join
/// and leave a plugin, told apart by pid and start time, and exits the host reports.
final class ProcessChurnTests: XCTestCase {
    let workers = [try! ProcessMatcher(.comm(["worker"]))]

    /// A /proc with these workers in it.
    func box(_ pids: [Int32]) -> ProcBox {
        var proc = FakeProc()
        for pid in pids { proc.addProcess(pid: pid, comm: "worker") }
        return ProcBox(proc)
    }

    func starts(_ registry: Registry, _ plugin: String = "w") -> Double? {
        registry.sample("vigil_plugin_process_starts_total{plugin=\"\(plugin)\"}")
    }

    func exits(_ registry: Registry, _ reason: String, _ plugin: String = "w") -> Double? {
        registry.sample("vigil_plugin_process_exits_total{plugin=\"\(plugin)\",reason=\"\(reason)\"}")
    }

    func testProcessesOfTheFirstSampleAreNotStartsAndTheSeriesStartAtZero() throws {
        let registry = Registry()
        let s = try ResourceSampler.controlled([PluginResources(name: "w", matchers: workers)], registry: registry, source: box([10, 11]))
        XCTAssertNil(starts(registry), "nothing is exported before the first sample")
        s.sampleNow()
        XCTAssertEqual(starts(registry), 0)
        XCTAssertEqual(exits(registry, "unknown"), 0)
        XCTAssertFalse(registry.renderString().contains("reason=\"failed\""), "other reasons appear at their first exit")
    }

    func testAWorkerThatIsReplacedIsOneExitAndOneStart() throws {
        let registry = Registry()
        let proc = box([10, 11])
        let s = try ResourceSampler.controlled([PluginResources(name: "w", matchers: workers)], registry: registry, source: proc)
        s.sampleNow()
        proc.proc.remove(pid: 11)
        proc.proc.addProcess(pid: 12, comm: "worker")
        s.sampleNow()
        XCTAssertEqual(starts(registry), 1)
        XCTAssertEqual(exits(registry, "unknown"), 1)
        s.sampleNow()
        XCTAssertEqual(starts(registry), 1, "a process is a start once")
    }

    func testAPIDHandedToANewProcessIsOneExitAndOneStartInAProcFixtureFolder() throws {
        let fixture = try ProcFixture()
        try fixture.process(pid: 300, comm: "worker", start: 5000)
        let registry = Registry()
        let s = try ResourceSampler.controlled([PluginResources(name: "w", matchers: workers)], registry: registry, source: fixture.source)
        XCTAssertEqual(s.sampleNow()["w"]?.processes, 1)
        try fixture.process(pid: 300, comm: "worker", start: 7000)  // same pid, started later
        XCTAssertEqual(s.sampleNow()["w"]?.processes, 1)
        XCTAssertEqual(starts(registry), 1)
        XCTAssertEqual(exits(registry, "unknown"), 1)
        try fixture.removeProcess(pid: 300)
        XCTAssertEqual(s.sampleNow()["w"]?.processes, 0)
        XCTAssertEqual(exits(registry, "unknown"), 2)
    }

    func testAnExitTheHostRecordsBeforeTheSampleNoticesIsCountedOnceWithItsReason() throws {
        let registry = Registry()
        let proc = box([10, 11])
        let s = try ResourceSampler.controlled([PluginResources(name: "w", matchers: workers)], registry: registry, source: proc)
        s.sampleNow()
        XCTAssertEqual(s.recordExit(plugin: "w", pid: 11, status: .signalled(SIGKILL)), .counted(reason: "signal_kill"))
        XCTAssertEqual(s.recordExit(plugin: "w", pid: 11, status: .signalled(SIGKILL)), .alreadyCounted, "reported twice")
        s.sampleNow()  // 11 is still there, a zombie its parent has yet to reap: still one exit
        proc.proc.remove(pid: 11)
        s.sampleNow()
        XCTAssertEqual(exits(registry, "signal_kill"), 1)
        XCTAssertEqual(exits(registry, "unknown"), 0, "the sample that found it gone counted nothing more")
    }

    func testAnExitASampleCountedAsUnknownIsNotCountedAgainByTheHost() throws {
        let registry = Registry()
        let proc = box([10, 11])
        let s = try ResourceSampler.controlled([PluginResources(name: "w", matchers: workers)], registry: registry, source: proc)
        s.sampleNow()
        proc.proc.remove(pid: 11)
        s.sampleNow()
        XCTAssertEqual(s.recordExit(plugin: "w", pid: 11, waitStatus: 3 << 8), .alreadyCounted)
        XCTAssertEqual(exits(registry, "unknown"), 1)
        XCTAssertNil(exits(registry, "failed"))
    }

    func testAnExitNoSampleSawIsCountedAndAStoppedChildIsNotAnExit() throws {
        let registry = Registry()
        let s = try ResourceSampler.controlled([PluginResources(name: "w", matchers: workers)], registry: registry, source: box([10]))
        s.sampleNow()
        XCTAssertEqual(s.recordExit(plugin: "w", pid: 99, waitStatus: 0), .counted(reason: "exited"))
        XCTAssertEqual(s.recordExit(plugin: "w", pid: 98, waitStatus: 0x137f), .notAnExit)  // WIFSTOPPED, SIGSTOP
        XCTAssertEqual(s.recordExit(plugin: "nope", pid: 98, waitStatus: 0), .pluginNotWatched)
        XCTAssertEqual(exits(registry, "exited"), 1)
    }

    func testRegisteredThreadsOfAnInProcessPluginAreNotProcesses() throws {
        let registry = Registry()
        let s = try ResourceSampler.controlled([PluginResources(name: "inproc", matchers: [])], registry: registry, source: FakeProc())
        s.sampleNow()
        XCTAssertFalse(registry.renderString().contains("vigil_plugin_process_starts_total{plugin=\"inproc\"}"))
        XCTAssertFalse(registry.renderString().contains("vigil_plugin_process_exits_total{plugin=\"inproc\""))
    }

    func testNewMatchersTakeANewBaselineInsteadOfCountingStartsAndExits() throws {
        var proc = FakeProc()
        proc.addProcess(pid: 10, comm: "worker")
        proc.addProcess(pid: 20, comm: "helper")
        let registry = Registry()
        let s = try ResourceSampler.controlled([PluginResources(name: "w", matchers: workers)], registry: registry, source: proc)
        s.sampleNow()
        try s.update(plugins: [PluginResources(name: "w", matchers: [try ProcessMatcher(.comm(["helper"]))])])
        s.sampleNow()
        XCTAssertEqual(starts(registry), 0, "20 only now matches: it did not start")
        XCTAssertEqual(exits(registry, "unknown"), 0, "10 no longer matches: it did not exit")
    }

    func testWaitStatusesDecodeAsTheSysWaitMacrosDo() {
        XCTAssertEqual(ExitStatus(waitStatus: 0), .exited(0))
        XCTAssertEqual(ExitStatus(waitStatus: 3 << 8), .exited(3))
        XCTAssertEqual(ExitStatus(waitStatus: 255 << 8), .exited(255))
        XCTAssertEqual(ExitStatus(waitStatus: SIGTERM), .signalled(SIGTERM))
        XCTAssertEqual(ExitStatus(waitStatus: SIGSEGV | 0x80), .signalled(SIGSEGV), "a core dump is still the signal")
        XCTAssertNil(ExitStatus(waitStatus: (SIGSTOP << 8) | 0x7f), "stopped")
        XCTAssertNil(ExitStatus(waitStatus: 0xffff), "continued")
    }

    func testEveryExitReasonIsOneOfTheContractsAndEachIsReachable() {
        var statuses: [ExitStatus] = [.exited(0), .exited(1), .exited(127)]
        statuses += (1...64).map { ExitStatus.signalled(Int32($0)) }
        let reasons = Set(statuses.map(\.reason) + [ExitStatus.unknownReason])
        XCTAssertEqual(reasons, Set(VigilMetric.Values.exitReason))
        XCTAssertEqual(ExitStatus.exited(0).reason, "exited")
        XCTAssertEqual(ExitStatus.exited(2).reason, "failed")
        XCTAssertEqual(ExitStatus.signalled(SIGTERM).reason, "signal_term")
        XCTAssertEqual(ExitStatus.signalled(SIGUSR1).reason, "signal_other")
    }
}

extension FakeProc {
    /// Takes a process out, as its exit does.
    mutating func remove(pid: Int32) {
        files = files.filter { !$0.key.hasPrefix("\(pid)/") }
        links = links.filter { !$0.key.hasPrefix("\(pid)/") }
        directories = directories.filter { !$0.hasPrefix("\(pid)/") }
    }
}
