import Foundation
import Synchronization
import VigilMetrics
import VigilTestSupport
import XCTest
@testable import VigilResources

/// A /proc of strings that counts which files the sampler reads.
/// With `inodes`, it lists processes with those inode numbers, as proc does.
final class CountingProc: ProcSource {
    private let state: Mutex<(proc: FakeProc, reads: [String: Int], inodes: [Int32: UInt64])>

    init(_ proc: FakeProc, inodes: [Int32: UInt64] = [:]) { state = Mutex((proc, [:], inodes)) }

    func change(_ body: (inout FakeProc) -> Void) { state.withLock { body(&$0.proc) } }
    func setInode(_ inode: UInt64, of pid: Int32) { state.withLock { $0.inodes[pid] = inode } }

    func processes() throws(ProcError) -> [ProcessEntry] {
        let (proc, inodes) = state.withLock { ($0.proc, $0.inodes) }
        return try proc.list("").compactMap { Int32($0) }.map { ProcessEntry(pid: $0, inode: inodes[$0] ?? 0) }
    }
    func reads(_ path: String) -> Int { state.withLock { $0.reads[path] ?? 0 } }

    func read(_ path: String) throws(ProcError) -> [UInt8] {
        let proc = state.withLock { state in
            state.reads[path, default: 0] += 1
            return state.proc
        }
        return try proc.read(path)
    }

    func list(_ path: String) throws(ProcError) -> [String] { try state.withLock { $0.proc }.list(path) }
    func readLink(_ path: String) throws(ProcError) -> String { try state.withLock { $0.proc }.readLink(path) }
}

/// A count several threads add to.
final class Tally: Sendable {
    private let value = Atomic<Int>(0)
    /// Adds one and returns the new count.
    func next() -> Int { value.add(1, ordering: .acquiringAndReleasing).newValue }
    var count: Int { value.load(ordering: .acquiring) }
}

/// Real processes spawned with the argv a test chooses (posix_spawn sets argv[0] too), killed
/// and reaped when released.
final class NamedProcesses {
    private(set) var pids: [Int32] = []

    /// Starts `/bin/sleep` under each of `argv0s`, sleeping 600 s.
    init(_ argv0s: [String]) throws {
        for name in argv0s {
            var pid: Int32 = 0
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup(name), strdup("600"), nil]
            defer { argv.forEach { free($0) } }
            let rc = posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ)
            guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
            pids.append(pid)
        }
    }

    deinit {
        for pid in pids { kill(pid, SIGKILL) }
        for pid in pids { waitpid(pid, nil, 0) }
    }
}

final class CommandLineMatchingTests: XCTestCase {
    func testACommandLineIsReadAndMatchedOncePerProcessLifetime() throws {
        var fake = FakeProc()
        fake.addProcess(pid: 10, comm: "python3", cmdline: "python3 worker.py --plugin=ocr")
        fake.addProcess(pid: 11, comm: "python3", cmdline: "python3 other.py")
        fake.addProcess(pid: 12, comm: "kworker", flags: ProcStat.kernelThreadFlag)
        let proc = CountingProc(fake)
        let s = try ResourceSampler(
            plugins: [
                PluginResources(name: "ocr", matchers: [try ProcessMatcher(.commandLine("worker\\.py --plugin=ocr"))]),
                PluginResources(name: "py", matchers: [try ProcessMatcher(.commandLine("^python3 "))]),
            ], registry: Registry(), source: proc, constants: fixedConstants)
        for _ in 0..<3 {
            let usage = s.sampleNow()
            XCTAssertEqual(usage["ocr"]?.processes, 1)
            XCTAssertEqual(usage["py"]?.processes, 2)
        }
        XCTAssertEqual(proc.reads("10/cmdline"), 1, "one read for both patterns, at the first sweep")
        XCTAssertEqual(proc.reads("11/cmdline"), 1)
        XCTAssertEqual(proc.reads("12/cmdline"), 0, "a kernel thread has no command line to read")

        // Pid 10 is reused by a new process (a later start time): read and matched again.
        proc.change { $0.files["10/stat"] = FakeProc.stat(pid: 10, comm: "python3", start: 5000) ; $0.files["10/cmdline"] = "python3\u{0}new.py\u{0}" }
        XCTAssertEqual(s.sampleNow()["ocr"]?.processes, 0)
        XCTAssertEqual(proc.reads("10/cmdline"), 2)

        // A reload compiles new matchers: their verdicts are found anew.
        try s.update(plugins: [PluginResources(name: "ocr", matchers: [try ProcessMatcher(.commandLine("new\\.py"))])])
        XCTAssertEqual(s.sampleNow()["ocr"]?.processes, 1)
        XCTAssertEqual(proc.reads("10/cmdline"), 3)
    }

    /// A process whose /proc folder keeps its inode number is the same process: its `stat` is
    /// not read again to learn that, unless it is watched (its figures come from it).
    func testAProcessIsIdentifiedByItsFolderInodeWithoutReadingStat() throws {
        var fake = FakeProc()
        fake.addProcess(pid: 30, comm: "w", cmdline: "w --serve")
        fake.addProcess(pid: 31, comm: "other", cmdline: "other")
        fake.addProcess(pid: 32, comm: "kthreadd", flags: ProcStat.kernelThreadFlag)
        let proc = CountingProc(fake, inodes: [30: 300, 31: 310, 32: 320])
        let s = try ResourceSampler(
            plugins: [PluginResources(name: "w", matchers: [try ProcessMatcher(.commandLine("--serve"))])],
            registry: Registry(), source: proc, constants: fixedConstants)
        for _ in 0..<3 { XCTAssertEqual(s.sampleNow()["w"]?.processes, 1) }
        XCTAssertEqual(proc.reads("31/stat"), 1, "an unwatched process is identified once")
        XCTAssertEqual(proc.reads("32/stat"), 1, "a kernel thread too")
        XCTAssertEqual(proc.reads("31/cmdline"), 1)
        XCTAssertEqual(proc.reads("30/stat"), 3, "a watched process's figures are read at every sweep")

        // Pid 31 reused by a new process: a new folder, a new inode; its stat and command line are read.
        proc.change { $0.files["31/stat"] = FakeProc.stat(pid: 31, comm: "w", start: 5000); $0.files["31/cmdline"] = "w\u{0}--serve\u{0}" }
        proc.setInode(311, of: 31)
        XCTAssertEqual(s.sampleNow()["w"]?.processes, 2)
        XCTAssertEqual(proc.reads("31/cmdline"), 2)

        // The same process under a new inode (its dentry was evicted): stat tells it is the same
        // process, and its verdict stands.
        proc.setInode(312, of: 31)
        XCTAssertEqual(s.sampleNow()["w"]?.processes, 2)
        XCTAssertEqual(proc.reads("31/cmdline"), 2)

        // The same inode number but another start time is never seen on proc; a source without
        // inode numbers (0) identifies every process by stat, at every sweep.
        let plain = CountingProc(fake)
        let t = try ResourceSampler(
            plugins: [PluginResources(name: "w", matchers: [try ProcessMatcher(.commandLine("--serve"))])],
            registry: Registry(), source: plain, constants: fixedConstants)
        for _ in 0..<2 { XCTAssertEqual(t.sampleNow()["w"]?.processes, 1) }
        XCTAssertEqual(plain.reads("31/stat"), 2)
        XCTAssertEqual(plain.reads("31/cmdline"), 1)
    }

    /// What the inode shortcut rests on, checked on this machine's /proc: a living process's
    /// folder is listed with the same inode number at every listing, its stat(2) inode.
    func testProcListsALivingProcessWithAStableInode() throws {
        let child = try Workload([])
        let first = try XCTUnwrap(try ProcFileSystem().processes().first { $0.pid == child.pid })
        let second = try XCTUnwrap(try ProcFileSystem().processes().first { $0.pid == child.pid })
        XCTAssertNotEqual(first.inode, 0)
        XCTAssertEqual(first, second)
        var info = stat()
        XCTAssertEqual(stat("/proc/\(child.pid)", &info), 0)
        XCTAssertEqual(UInt64(info.st_ino), first.inode)
        XCTAssertFalse(try ProcFileSystem().processes().contains { $0.pid <= 0 }, "only numeric folders are processes")
    }

    func testExitedProcessesAreForgotten() throws {
        var fake = FakeProc()
        fake.addProcess(pid: 20, comm: "w", cmdline: "w --serve")
        fake.addProcess(pid: 21, comm: "other", cmdline: "other")
        let proc = CountingProc(fake)
        let s = try ResourceSampler(
            plugins: [PluginResources(name: "w", matchers: [try ProcessMatcher(.commandLine("--serve"))])],
            registry: Registry(), source: proc, constants: fixedConstants)
        s.sampleNow()
        XCTAssertEqual(s.state.withLock { $0.commandLines.count }, 2)
        proc.change { proc in proc.files = proc.files.filter { !$0.key.hasPrefix("20/") }; proc.directories.remove("20/fd") }
        XCTAssertEqual(s.sampleNow()["w"]?.processes, 0)
        XCTAssertEqual(s.state.withLock { $0.commandLines.count }, 1, "only pid 21 is remembered")
    }

    /// The done-when of the matcher: a real process whose name defeats backtracking, beside a
    /// plugin whose pattern nests quantifiers and plugins listed after it. Every plugin is
    /// sampled at every sweep of the sampler's own loop.
    func testANameBuiltToDefeatBacktrackingStallsNoSweep() throws {
        let name = String(repeating: "a", count: 48) + "b"
        let adversary = try NamedProcesses([name])
        let pid = try XCTUnwrap(adversary.pids.first)
        try blockUntil("the adversary to exec /bin/sleep") {
            (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8))?.hasPrefix(name) == true
        }
        // The clock counts its readings: one per sweep, so each plugin's last sample time says
        // which sweep sampled it last.
        let readings = Tally()
        let s = try ResourceSampler(
            plugins: [
                PluginResources(name: "nested", matchers: [try ProcessMatcher(.commandLine("^(a+)+$"))]),
                PluginResources(name: "after", matchers: [try ProcessMatcher(.commandLine("^a+b 600$"))]),
                PluginResources(name: "itself", matchers: [try ProcessMatcher(.currentProcess)]),
            ], registry: Registry(), interval: .milliseconds(100), source: ProcFileSystem(), constants: nil,
            onLimitEvent: nil, onBreaker: nil,
            monotonic: { Double(readings.next()) }, sendSignal: ResourceSampler.notALiveProcess)
        // Sweeps called one by one: after each, every plugin carries that sweep's time.
        for sweep in 1...3 {
            let done = Tally()
            Thread.detachNewThread {
                s.sampleNow()
                _ = done.next()
            }
            try blockUntil("sweep \(sweep) to finish") { done.count == 1 }
            let times = s.state.withLock { state in state.plugins.mapValues(\.lastSampleTime) }
            XCTAssertEqual(times, ["nested": Double(sweep), "after": Double(sweep), "itself": Double(sweep)])
        }
        // The sampler's own loop: five more sweeps, and the last sampled every plugin.
        s.start()
        try blockUntil("five more sweeps of the sampler's loop") { s.sweepCount >= 8 }
        let stopped = Tally()
        Task.detached {
            await s.stop()
            _ = stopped.next()
        }
        try blockUntil("the sampler to stop") { stopped.count == 1 }
        let last = Double(s.sweepCount)
        XCTAssertEqual(s.state.withLock { state in state.plugins.mapValues(\.lastSampleTime) },
                       ["nested": last, "after": last, "itself": last])
        let usage = s.usage
        XCTAssertEqual(usage["nested"]?.processes, 0, "^(a+)+$ does not match \(name) 600")
        XCTAssertEqual(usage["after"]?.processes, 1, "the plugin listed after the nested pattern finds the adversary")
        XCTAssertEqual(usage["itself"]?.processes, 1)
    }
}
