import Foundation
import Synchronization
import VigilMetrics
import XCTest
@testable import VigilResources

/// PSS and swap (opt-in), I/O, context switches, major faults, the worst fd ratio and cgroup v2
/// figures, read from fixtures laid out as the kernel writes them.
final class DeeperProcTests: XCTestCase {
    /// A process in `proc` with the given counters in `stat`, `io`, `status` and `smaps_rollup`.
    func add(_ proc: inout FakeProc, pid: Int32, start: UInt64 = 1000, majflt: UInt64, read: UInt64, written: UInt64,
             voluntary: UInt64, involuntary: UInt64, pssKiB: UInt64 = 0, swapKiB: UInt64 = 0, fds: Int = 0, softLimit: Int = 1024) {
        proc.addProcess(pid: pid, comm: "w", fds: fds)
        var fields = FakeProc.stat(pid: pid, comm: "w", start: start).split(separator: " ").map(String.init)
        fields[11] = String(majflt)
        proc.files["\(pid)/stat"] = fields.joined(separator: " ")
        proc.files["\(pid)/limits"] = "Max open files            \(softLimit)                 4096                 files     \n"
        proc.files["\(pid)/io"] = "rchar: 999999\nwchar: 888888\nsyscr: 1\nsyscw: 2\nread_bytes: \(read)\nwrite_bytes: \(written)\ncancelled_write_bytes: 0\n"
        proc.files["\(pid)/status"] = "Name:\tw\nVmSwap:\t\(swapKiB) kB\nvoluntary_ctxt_switches:\t\(voluntary)\nnonvoluntary_ctxt_switches:\t\(involuntary)\n"
        proc.files["\(pid)/smaps_rollup"] = "00400000-7fff [rollup]\nRss:                1000 kB\nPss:                 \(pssKiB) kB\nSwap:                \(swapKiB) kB\nSwapPss:               0 kB\n"
    }

    func testCountersAreSummedOverProcessesAndKeptWhenOneExits() throws {
        var proc = FakeProc()
        add(&proc, pid: 1, majflt: 3, read: 4096, written: 8192, voluntary: 10, involuntary: 2)
        add(&proc, pid: 2, majflt: 5, read: 1000, written: 0, voluntary: 7, involuntary: 1)
        let source = CountingProc(proc)
        let s = try ResourceSampler.controlled(
            [PluginResources(name: "w", matchers: [try ProcessMatcher(.comm(["w"]))])], source: source)
        var usage = try XCTUnwrap(s.sampleNow()["w"])
        XCTAssertEqual(usage.majorPageFaults, 8)
        XCTAssertEqual(usage.readBytes, 5096, "read_bytes, not rchar")
        XCTAssertEqual(usage.writeBytes, 8192)
        XCTAssertEqual(usage.voluntaryContextSwitches, 17)
        XCTAssertEqual(usage.involuntaryContextSwitches, 3)
        XCTAssertNil(usage.proportionalBytes, "smaps is opt-in")
        XCTAssertEqual(source.reads("1/smaps_rollup"), 0, "and not read without it")

        // Pid 2 exits, pid 1 goes on: the totals keep pid 2's last figures.
        source.change { proc in
            proc.files = proc.files.filter { !$0.key.hasPrefix("2/") }
            proc.directories.remove("2/fd")
        }
        source.change { add(&$0, pid: 1, majflt: 4, read: 5000, written: 8192, voluntary: 11, involuntary: 2) }
        usage = try XCTUnwrap(s.sampleNow()["w"])
        XCTAssertEqual(usage.processes, 1)
        XCTAssertEqual(usage.majorPageFaults, 9)
        XCTAssertEqual(usage.readBytes, 6000)
        XCTAssertEqual(usage.voluntaryContextSwitches, 18)
        XCTAssertEqual(usage.involuntaryContextSwitches, 3)
    }

    func testAnUnreadableIOFileKeepsTheLastFiguresAndIsCounted() throws {
        var proc = FakeProc()
        add(&proc, pid: 1, majflt: 0, read: 100, written: 200, voluntary: 1, involuntary: 1)
        let source = CountingProc(proc)
        let registry = Registry()
        let s = try ResourceSampler.controlled(
            [PluginResources(name: "w", matchers: [try ProcessMatcher(.pid(1))])], registry: registry, source: source)
        let told = Mutex<[String]>([])
        s.whenPermissionIsDenied { path in told.withLock { $0.append(path) } }
        XCTAssertEqual(s.sampleNow()["w"]?.readBytes, 100)
        source.change { $0.failures["1/io"] = .permissionDenied(path: "1/io") }
        XCTAssertEqual(s.sampleNow()["w"]?.readBytes, 100)
        XCTAssertEqual(s.sampleNow()["w"]?.writeBytes, 200)
        XCTAssertEqual(told.withLock { $0 }, ["1/io"], "told once, not at every sweep")
        XCTAssertEqual(registry.sample(#"vigil_sample_errors_total{plugin="w",reason="permission_denied"}"#), 2)
    }

    func testSmapsGivesProportionalAndSwappedMemoryWhenAskedFor() throws {
        var proc = FakeProc()
        add(&proc, pid: 1, majflt: 0, read: 0, written: 0, voluntary: 0, involuntary: 0, pssKiB: 300, swapKiB: 12)
        add(&proc, pid: 2, majflt: 0, read: 0, written: 0, voluntary: 0, involuntary: 0, pssKiB: 200, swapKiB: 0)
        let registry = Registry()
        let s = try ResourceSampler.controlled(
            [PluginResources(name: "w", matchers: [try ProcessMatcher(.comm(["w"]))], smaps: true)], registry: registry, source: proc)
        let usage = try XCTUnwrap(s.sampleNow()["w"])
        XCTAssertEqual(usage.proportionalBytes, 500 * 1024)
        XCTAssertEqual(usage.swapBytes, 12 * 1024)
        XCTAssertEqual(registry.sample(#"vigil_plugin_proportional_memory_bytes{plugin="w"}"#), 500 * 1024)
        XCTAssertEqual(registry.sample(#"vigil_plugin_swap_bytes{plugin="w"}"#), 12 * 1024)
    }

    func testWorstFDRatioIsTheNearestProcessToItsOwnLimit() throws {
        var proc = FakeProc()
        // 10 of 1024 and 30 of 64: the sum over the smallest limit (40 / 64) would mislead.
        add(&proc, pid: 1, majflt: 0, read: 0, written: 0, voluntary: 0, involuntary: 0, fds: 10, softLimit: 1024)
        add(&proc, pid: 2, majflt: 0, read: 0, written: 0, voluntary: 0, involuntary: 0, fds: 30, softLimit: 64)
        let registry = Registry()
        let s = try ResourceSampler.controlled(
            [PluginResources(name: "w", matchers: [try ProcessMatcher(.comm(["w"]))])], registry: registry, source: proc)
        XCTAssertEqual(try XCTUnwrap(s.sampleNow()["w"]?.worstFDRatio), 30.0 / 64, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(registry.sample(#"vigil_plugin_worst_fd_ratio{plugin="w"}"#)), 30.0 / 64, accuracy: 1e-12)
        XCTAssertEqual(registry.sample(#"vigil_plugin_io_bytes_total{plugin="w",direction="read"}"#), 0)
        XCTAssertEqual(registry.sample(#"vigil_plugin_context_switches_total{plugin="w",type="involuntary"}"#), 0)
        XCTAssertEqual(registry.sample(#"vigil_plugin_major_page_faults_total{plugin="w"}"#), 0)
    }

    func testCgroupV2FiguresOfAPluginMatchedByCgroup() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-cgroup-\(UUID())")
        defer { try? FileManager.default.removeItem(at: root) }
        let group = root.appendingPathComponent("plugins/ocr")
        try FileManager.default.createDirectory(at: group, withIntermediateDirectories: true)
        let files = [
            "cgroup.controllers": "cpuset cpu io memory pids\n",
            "plugins/ocr/memory.current": "52428800\n", "plugins/ocr/memory.max": "104857600\n",
            "plugins/ocr/cpu.max": "50000 100000\n",
            "plugins/ocr/cpu.stat": "usage_usec 9000000\nuser_usec 6000000\nsystem_usec 3000000\nnr_periods 40\nnr_throttled 12\nthrottled_usec 2500000\n",
            "plugins/ocr/memory.events": "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\noom_group_kill 0\n",
        ]
        for (path, text) in files { try text.write(to: root.appendingPathComponent(path), atomically: true, encoding: .utf8) }
        var proc = FakeProc()
        proc.addProcess(pid: 1, comm: "ocr", cgroup: "0::/plugins/ocr\n")
        let registry = Registry()
        let s = try ResourceSampler(
            plugins: [PluginResources(name: "ocr", matchers: [try ProcessMatcher(.cgroup("/plugins/ocr"))])], registry: registry,
            interval: .seconds(1), source: proc, constants: fixedConstants, onLimitEvent: nil, onBreaker: nil,
            monotonic: { 1 }, sendSignal: ResourceSampler.notALiveProcess, cgroupRoot: root.path)
        let cgroup = try XCTUnwrap(s.sampleNow()["ocr"]?.cgroup)
        XCTAssertEqual(cgroup.memoryBytes, 52_428_800)
        XCTAssertEqual(cgroup.memoryLimitBytes, 104_857_600)
        XCTAssertEqual(cgroup.cpuLimitCores, 0.5)
        XCTAssertEqual(cgroup.throttledSeconds, 2.5)
        XCTAssertEqual(cgroup.oomKills, 2)
        XCTAssertEqual(registry.sample(#"vigil_plugin_cgroup_cpu_limit_cores{plugin="ocr"}"#), 0.5)
        XCTAssertEqual(registry.sample(#"vigil_plugin_cgroup_cpu_throttled_seconds_total{plugin="ocr"}"#), 2.5)
        XCTAssertEqual(registry.sample(#"vigil_plugin_cgroup_oom_kills_total{plugin="ocr"}"#), 2)

        // Unlimited: no limit series. Without cgroup.controllers at the root (cgroup v1): nothing.
        try "max\n".write(to: group.appendingPathComponent("memory.max"), atomically: true, encoding: .utf8)
        try "max 100000\n".write(to: group.appendingPathComponent("cpu.max"), atomically: true, encoding: .utf8)
        s.sampleNow()
        XCTAssertNil(registry.sample(#"vigil_plugin_cgroup_memory_limit_bytes{plugin="ocr"}"#))
        XCTAssertNil(registry.sample(#"vigil_plugin_cgroup_cpu_limit_cores{plugin="ocr"}"#))
        XCTAssertEqual(registry.sample(#"vigil_plugin_cgroup_memory_bytes{plugin="ocr"}"#), 52_428_800)
        try FileManager.default.removeItem(at: root.appendingPathComponent("cgroup.controllers"))
        XCTAssertFalse(CgroupFileSystem(root: root.path).isUnified)
    }

    /// Where this machine mounts cgroup v2, the sidecar's own cgroup read live.
    func testLiveCgroupV2WhereMounted() throws {
        guard CgroupFileSystem(root: "/sys/fs/cgroup").isUnified else {
            throw XCTSkip("/sys/fs/cgroup is not a cgroup v2 hierarchy (no cgroup.controllers): the cgroup figures are tested on fixtures only")
        }
        let own = try String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)
        let path = try XCTUnwrap(own.split(separator: "\n").first { $0.hasPrefix("0::") }).dropFirst(3)
        let s = try ResourceSampler(
            plugins: [PluginResources(name: "self", matchers: [try ProcessMatcher(.cgroup(String(path)))])], registry: Registry())
        let cgroup = try XCTUnwrap(s.sampleNow()["self"]?.cgroup)
        if FileManager.default.fileExists(atPath: "/sys/fs/cgroup\(path)/memory.current") {
            XCTAssertGreaterThan(try XCTUnwrap(cgroup.memoryBytes), 0)
        }
    }

    func testKeyedValuesReadKilobytesAsBytes() {
        let text = "Rss:  10 kB\nPss:\t7 kB\nread_bytes: 42\n"
        XCTAssertEqual(ProcFiles.keyedValues(Array(text.utf8), keys: ["Pss", "read_bytes", "Swap"]), [7168, 42, nil])
    }
}
