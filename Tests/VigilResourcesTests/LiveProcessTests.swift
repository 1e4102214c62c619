import Foundation
import Synchronization
import VigilMetrics
import VigilTestSupport
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

    /// How far two readings of a running process's CPU time may differ beyond the time that
    /// passed between them: two ticks of rounding, and a scheduler tick (10 ms at most) that the
    /// kernel had yet to add to the earlier one.
    let tickSlack = 2 / clockTicksPerSecond + 0.01

    func testSpinningChildsCPUIsTheTicksProcReportsAndItsRatioTheirRateBetweenSamples() throws {
        let spinner = try Workload(["spin"])
        let pid = "\(spinner.pid)"
        let s = try sampler([PluginResources(name: "spin", matchers: [try ProcessMatcher(.pid(spinner.pid))])])
        let firstStart = monotonicSeconds()
        let first = try XCTUnwrap(s.sampleNow()["spin"])
        let firstProc = try procCPUSeconds(pid)
        let firstEnd = monotonicSeconds()
        try blockUntil("the spinner to burn 0.5 s of CPU") { try procCPUSeconds(pid) >= firstProc + 0.5 }
        let start = monotonicSeconds()
        let usage = try XCTUnwrap(s.sampleNow()["spin"])
        let proc = try procCPUSeconds(pid)
        let end = monotonicSeconds()

        // The sampler read the ticks /proc gives, a moment before we did: never more, and less only
        // by what one spinning thread can burn between the two reads.
        let firstCPU = first.userSeconds + first.systemSeconds
        let ours = usage.userSeconds + usage.systemSeconds
        XCTAssertLessThanOrEqual(firstCPU, firstProc + 1e-9)
        XCTAssertGreaterThanOrEqual(firstCPU, firstProc - (firstEnd - firstStart) - tickSlack)
        XCTAssertLessThanOrEqual(ours, proc + 1e-9)
        XCTAssertGreaterThanOrEqual(ours, proc - (end - start) - tickSlack)
        XCTAssertGreaterThanOrEqual(ours, firstCPU, "a CPU counter never goes back")

        // The ratio is the CPU burnt between the samples over the time between them, which lies
        // between our readings of the clock around each sample.
        let ratio = try XCTUnwrap(usage.cpuRatio)
        XCTAssertGreaterThan(ratio, 0)
        XCTAssertGreaterThanOrEqual(ratio, (ours - firstCPU) / (end - firstStart) * (1 - 1e-9))
        XCTAssertLessThanOrEqual(ratio, (ours - firstCPU) / (start - firstEnd) * (1 + 1e-9))
        XCTAssertLessThan(ratio, 1.15, "one busy thread uses a core at most")

        // The child's own account (times(2), not /proc) comes a moment later, so it may be higher,
        // never lower, and higher only by what it burnt in that moment.
        let own = try spinner.cpuSeconds()
        let ownEnd = monotonicSeconds()
        XCTAssertGreaterThanOrEqual(own + 0.02, ours)
        XCTAssertLessThanOrEqual(own - ours, ownEnd - start + tickSlack)
    }

    func testCPUCounterKeepsTheTimeOfChildrenThatExited() throws {
        let parent = try Workload(["children", "3"])  // ready once each child has burnt 0.3 s of CPU
        let s = try sampler([PluginResources(name: "fam", matchers: [try ProcessMatcher(.pid(parent.pid), includeDescendants: true)])])
        let children = try parent.childPIDs()
        XCTAssertEqual(children.count, 3)
        // The children sleep now: their ticks stay as they are.
        let childrenCPU = try children.map { try procCPUSeconds("\($0)") }.reduce(0, +)
        let before = try XCTUnwrap(s.sampleNow()["fam"])
        XCTAssertEqual(before.processes, 4)
        XCTAssertGreaterThanOrEqual(before.userSeconds + before.systemSeconds, childrenCPU, "the children's ticks are the plugin's")
        try parent.send("kill-children")
        let parentCPU = try procCPUSeconds("\(parent.pid)")
        let after = try XCTUnwrap(s.sampleNow()["fam"])
        XCTAssertEqual(after.processes, 1)
        XCTAssertGreaterThanOrEqual(after.userSeconds + after.systemSeconds, before.userSeconds + before.systemSeconds)
        XCTAssertGreaterThanOrEqual(after.userSeconds + after.systemSeconds, childrenCPU + parentCPU, "the exited children's ticks stay")
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
        let worker = WorkerAccount()
        let thread = Thread {
            worker.threadID = ResourceSampler.currentThreadID()
            ready.signal()
            // 0.3 s of CPU by the thread's own clock, however long a loaded machine takes to grant it.
            while threadCPUSeconds() < 0.3 {}
            worker.cpuSeconds = threadCPUSeconds()
            done.signal()
            release.wait()
            exited.signal()
        }
        thread.start()
        ready.wait()
        let tid = try XCTUnwrap(worker.threadID)
        s.addThreads([tid], to: "inproc")
        done.wait()
        let usage = try XCTUnwrap(s.sampleNow()["inproc"])
        XCTAssertTrue(usage.threadsOnly)
        XCTAssertEqual(usage.threads, 1)
        // The thread has waited since it read its own clock: /proc gives that time, in whole ticks.
        let own = try XCTUnwrap(worker.cpuSeconds)
        XCTAssertGreaterThan(usage.userSeconds + usage.systemSeconds, 0.2)
        XCTAssertGreaterThanOrEqual(usage.userSeconds + usage.systemSeconds, own - 2 / clockTicksPerSecond)
        XCTAssertLessThanOrEqual(usage.userSeconds + usage.systemSeconds, own + 0.005)
        // Once the thread has exited, its CPU time stays with the plugin.
        release.signal()
        exited.wait()
        try blockUntil("the worker thread to be gone from /proc") {
            !FileManager.default.fileExists(atPath: "/proc/\(getpid())/task/\(tid)")
        }
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
        try await waitUntil("the sampler's task to take a sample") { s.usage["self"]?.processes == 1 }
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

    func append(_ event: LimitEvent) { lock.withLock { events.append(event) } }
    var all: [LimitEvent] { lock.withLock { events } }
}

/// What a worker thread says of itself: its kernel id and the CPU time it has run.
final class WorkerAccount: Sendable {
    private let state = Mutex<(threadID: Int32?, cpuSeconds: Double?)>((nil, nil))

    var threadID: Int32? {
        get { state.withLock { $0.threadID } }
        set { state.withLock { $0.threadID = newValue } }
    }
    var cpuSeconds: Double? {
        get { state.withLock { $0.cpuSeconds } }
        set { state.withLock { $0.cpuSeconds = newValue } }
    }
}
