import Foundation
import VigilMetrics
import XCTest
@testable import VigilResources

/// Real child processes with known behaviour, measured by Vigil and by `ps`.
final class LiveProcessTests: XCTestCase {
    func sampler(_ plugins: [PluginResources], registry: Registry = Registry(),
                 events: (@Sendable (LimitEvent) -> Void)? = nil) throws -> ResourceSampler {
        try ResourceSampler(plugins: plugins, registry: registry, onLimitEvent: events)
    }

    func testResidentMemoryMatchesPsWithinTwoPercent() throws {
        let hog = try Workload(["mem", "64"])
        let s = try sampler([PluginResources(name: "hog", matchers: [try ProcessMatcher(.pid(hog.pid))])])
        let usage = try XCTUnwrap(s.sampleNow()["hog"])
        let psBytes = try ps(hog.pid, "rss") * 1024
        XCTAssertGreaterThanOrEqual(Double(usage.residentBytes), 64 * 1_048_576)
        XCTAssertEqual(Double(usage.residentBytes), psBytes, accuracy: psBytes * 0.02)
        XCTAssertEqual(Double(usage.virtualBytes), try ps(hog.pid, "vsz") * 1024, accuracy: 4 * 1_048_576)
        XCTAssertEqual(usage.processes, 1)
    }

    func testOpenFileDescriptorsCountEveryFileTheChildOpened() throws {
        let quiet = try Workload([])
        let busy = try Workload(["fds", "40"])
        let s = try sampler([
            PluginResources(name: "quiet", matchers: [try ProcessMatcher(.pid(quiet.pid))]),
            PluginResources(name: "busy", matchers: [try ProcessMatcher(.pid(busy.pid))]),
        ])
        let usage = s.sampleNow()
        let baseline = try XCTUnwrap(usage["quiet"]).openFDs
        XCTAssertEqual(try XCTUnwrap(usage["busy"]).openFDs, baseline + 40)
        XCTAssertEqual(try XCTUnwrap(usage["busy"]).maxFDs, UInt64(try String(contentsOfFile: "/proc/\(busy.pid)/limits")
            .split(separator: "\n").first { $0.hasPrefix("Max open files") }!.split(separator: " ")[3]))
    }

    func testThreadsMatchPs() throws {
        let threaded = try Workload(["threads", "7"])
        let s = try sampler([PluginResources(name: "t", matchers: [try ProcessMatcher(.pid(threaded.pid))])])
        let usage = try XCTUnwrap(s.sampleNow()["t"])
        XCTAssertEqual(usage.threads, 8)
        XCTAssertEqual(Double(usage.threads), try ps(threaded.pid, "nlwp"))
    }

    func testSpinningChildUsesAboutOneCore() throws {
        let spinner = try Workload(["spin"])
        let s = try sampler([PluginResources(name: "spin", matchers: [try ProcessMatcher(.pid(spinner.pid))])])
        s.sampleNow()
        Thread.sleep(forTimeInterval: 1.5)
        let usage = try XCTUnwrap(s.sampleNow()["spin"])
        let ratio = try XCTUnwrap(usage.cpuRatio)
        // One busy thread: at most a core; the machine is shared, so allow it to get less.
        XCTAssertGreaterThan(ratio, 0.5)
        XCTAssertLessThan(ratio, 1.15)
        // The child's own account comes a moment later, so it may be a little higher, never lower.
        let own = try spinner.cpuSeconds()
        let ours = usage.userSeconds + usage.systemSeconds
        XCTAssertGreaterThanOrEqual(own + 0.02, ours)
        XCTAssertLessThan(own - ours, 0.25)
    }

    func testCPUCounterKeepsTheTimeOfChildrenThatExited() throws {
        let parent = try Workload(["children", "3"])
        let s = try sampler([PluginResources(name: "fam", matchers: [try ProcessMatcher(.pid(parent.pid), includeDescendants: true)])])
        Thread.sleep(forTimeInterval: 0.5)  // the children burn 0.3 s of CPU each
        let before = try XCTUnwrap(s.sampleNow()["fam"])
        XCTAssertEqual(before.processes, 4)
        try parent.send("kill-children")
        let after = try XCTUnwrap(s.sampleNow()["fam"])
        XCTAssertEqual(after.processes, 1)
        XCTAssertGreaterThanOrEqual(after.userSeconds + after.systemSeconds, before.userSeconds + before.systemSeconds)
        XCTAssertGreaterThan(after.userSeconds + after.systemSeconds, 0.6)
    }

    func testMatchingByCommandLineCommAndExe() throws {
        let child = try Workload([])
        let registry = Registry()
        let s = try sampler([
            PluginResources(name: "by-cmdline", matchers: [try ProcessMatcher(.commandLine("workload\\.py \(child.token)"))]),
            PluginResources(name: "by-comm", matchers: [try ProcessMatcher(.comm(["no-such-comm-x"]))]),
        ], registry: registry)
        let usage = s.sampleNow()
        XCTAssertEqual(usage["by-cmdline"]?.processes, 1)
        XCTAssertEqual(usage["by-comm"]?.processes, 0)
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(child.pid)/exe")
        let byExe = try sampler([PluginResources(name: "py", matchers: [try ProcessMatcher(.exe([exe]))])])
        XCTAssertGreaterThanOrEqual(byExe.sampleNow()["py"]?.processes ?? 0, 1)
        XCTAssertThrowsError(try ProcessMatcher(.commandLine("(unclosed")))
    }

    func testMemoryViolationMovesTheGaugeAndCounterAndRecovers() throws {
        let hog = try Workload(["mem", "48"])
        let registry = Registry()
        let events = LockedEvents()
        let s = try sampler(
            [PluginResources(name: "hog", matchers: [try ProcessMatcher(.pid(hog.pid))], limits: ResourceLimits(memoryBytes: 32 * 1_048_576))],
            registry: registry, events: { events.append($0) })
        s.sampleNow()
        var text = registry.renderString()
        XCTAssertTrue(text.contains("vigil_plugin_limit{plugin=\"hog\",resource=\"memory_bytes\"} 33554432\n"), text)
        XCTAssertTrue(text.contains("vigil_plugin_limit_exceeded{plugin=\"hog\",resource=\"memory_bytes\"} 1\n"), text)
        XCTAssertTrue(text.contains("vigil_plugin_limit_violations_total{plugin=\"hog\",resource=\"memory_bytes\"} 1\n"), text)
        s.sampleNow()  // still over: no second violation
        XCTAssertTrue(registry.renderString().contains("vigil_plugin_limit_violations_total{plugin=\"hog\",resource=\"memory_bytes\"} 1\n"))
        try hog.send("free")
        s.sampleNow()
        text = registry.renderString()
        XCTAssertTrue(text.contains("vigil_plugin_limit_exceeded{plugin=\"hog\",resource=\"memory_bytes\"} 0\n"), text)
        XCTAssertTrue(text.contains("vigil_plugin_limit_violations_total{plugin=\"hog\",resource=\"memory_bytes\"} 1\n"), text)
        try hog.send("grow 48")
        s.sampleNow()
        XCTAssertTrue(registry.renderString().contains("vigil_plugin_limit_violations_total{plugin=\"hog\",resource=\"memory_bytes\"} 2\n"))
        XCTAssertEqual(events.all.map(\.kind), [.exceeded, .recovered, .exceeded])
        XCTAssertEqual(events.all.first?.plugin, "hog")
    }

    func testThreadLimitAndFDLimitViolations() throws {
        let child = try Workload(["threads", "5", "fds", "20"])
        let registry = Registry()
        let s = try sampler([PluginResources(
            name: "c", matchers: [try ProcessMatcher(.pid(child.pid))], limits: ResourceLimits(openFDs: 10, threads: 4))], registry: registry)
        s.sampleNow()
        let text = registry.renderString()
        XCTAssertTrue(text.contains("vigil_plugin_limit_exceeded{plugin=\"c\",resource=\"open_fds\"} 1\n"), text)
        XCTAssertTrue(text.contains("vigil_plugin_limit_exceeded{plugin=\"c\",resource=\"threads\"} 1\n"), text)
    }

    func testAProcessThatExitsLeavesTheSamplerRunning() throws {
        let registry = Registry()
        var child: Workload? = try Workload([])
        let pid = child!.pid
        let s = try sampler([PluginResources(name: "gone", matchers: [try ProcessMatcher(.pid(pid))])], registry: registry)
        XCTAssertEqual(s.sampleNow()["gone"]?.processes, 1)
        child = nil
        XCTAssertEqual(s.sampleNow()["gone"]?.processes, 0)
        XCTAssertTrue(registry.renderString().contains("vigil_plugin_processes{plugin=\"gone\"} 0\n"))
    }

    func testInProcessPluginCountsItsRegisteredThreadsCPU() throws {
        let registry = Registry()
        let s = try sampler([PluginResources(name: "inproc", matchers: [])], registry: registry)
        let ready = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let exited = DispatchSemaphore(value: 0)
        let tid = LockedEvents()
        let worker = Thread {
            tid.threadID = ResourceSampler.currentThreadID()
            ready.signal()
            let end = Date().addingTimeInterval(0.4)
            var x = 0
            while Date() < end { x &+= 1 }
            done.signal()
            release.wait()
            _ = x
            exited.signal()
        }
        worker.start()
        ready.wait()
        s.addThreads([try XCTUnwrap(tid.threadID)], to: "inproc")
        done.wait()
        let usage = try XCTUnwrap(s.sampleNow()["inproc"])
        XCTAssertTrue(usage.threadsOnly)
        XCTAssertEqual(usage.threads, 1)
        XCTAssertGreaterThan(usage.userSeconds + usage.systemSeconds, 0.2)
        // Once the thread has exited, its CPU time stays with the plugin.
        release.signal()
        exited.wait()
        Thread.sleep(forTimeInterval: 0.05)
        let after = try XCTUnwrap(s.sampleNow()["inproc"])
        XCTAssertEqual(after.threads, 0)
        XCTAssertGreaterThanOrEqual(after.userSeconds + after.systemSeconds, usage.userSeconds + usage.systemSeconds)
        let text = registry.renderString()
        XCTAssertFalse(text.contains("vigil_plugin_resident_memory_bytes{plugin=\"inproc\"}"), text)
        XCTAssertTrue(text.contains("vigil_plugin_cpu_seconds_total{plugin=\"inproc\",mode=\"user\"}"), text)
    }

    func testSamplerRunsOnItsOwnTaskAndStops() async throws {
        let registry = Registry()
        let s = try ResourceSampler(
            plugins: [PluginResources(name: "self", matchers: [try ProcessMatcher(.currentProcess)])], registry: registry,
            interval: .milliseconds(20))
        s.start()
        try await Task.sleep(for: .milliseconds(200))
        await s.stop()
        XCTAssertEqual(s.usage["self"]?.processes, 1)
        XCTAssertGreaterThan(s.usage["self"]?.residentBytes ?? 0, 0)
    }

    func testProcessCollectorAgreesWithPs() throws {
        let registry = Registry()
        try registry.register(ProcessCollector())
        let text = registry.renderString()
        for name in ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
                     "process_open_fds", "process_max_fds", "process_start_time_seconds", "process_threads"] {
            XCTAssertTrue(text.contains("\n\(name) "), "\(name) missing from:\n\(text)")
        }
        let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("process_start_time_seconds ") })
        let start = try XCTUnwrap(Double(line.split(separator: " ")[1]))
        XCTAssertEqual(start, Date().timeIntervalSince1970, accuracy: 600)  // the test process started minutes ago at most
    }

}

final class LockedEvents: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [LimitEvent] = []
    private var tid: Int32?

    func append(_ event: LimitEvent) { lock.withLock { events.append(event) } }
    var all: [LimitEvent] { lock.withLock { events } }
    var threadID: Int32? {
        get { lock.withLock { tid } }
        set { lock.withLock { tid = newValue } }
    }
}
