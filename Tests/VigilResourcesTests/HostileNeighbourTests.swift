import Foundation
import Synchronization
import VigilMetrics
import VigilTestSupport
import XCTest
@testable import VigilResources

/// What a neighbour who chooses its own process names, command lines, pid files and argument
/// lists can do to the sampler: never aim a limit action, never inflate a plugin's figures,
/// never stall a sweep or grow its memory. On a fixture /proc, a clock the test moves and a
/// recorder in place of the signal.
final class HostileNeighbourTests: XCTestCase {
    let clock = ManualClock()
    let signals = SignalRecorder()
    let log = HostLog()
    let registry = Registry()
    let root = ProcessOwners(uids: [0])

    func sample(_ series: String) -> Double? { registry.sample(series) }

    /// The real plugin (root, 10 pages) and a lookalike of user 65534 with the same name, over
    /// the limit on its own (1000 pages).
    func lookalike(policy: LimitPolicy?, owners: ProcessOwners?) throws -> ResourceSampler {
        var proc = FakeProc()
        proc.addProcess(pid: 40, comm: "transcoder", rssPages: 10, cmdline: "python transcode.py --worker", uid: 0)
        proc.addProcess(pid: 41, comm: "transcoder", rssPages: 1000, cmdline: "python transcode.py --worker", uid: 65534)
        let plugin = PluginResources(
            name: "t", matchers: [try ProcessMatcher(.commandLine("transcode\\.py --worker"))], owners: owners,
            limits: ResourceLimits(memoryBytes: 200_000), onLimit: policy)
        return try ResourceSampler.controlled([plugin], registry: registry, source: ProcBox(proc), clock: clock, signals: signals, log: log)
    }

    func testALookalikeOfAnotherUserIsNeitherSummedNorSignalled() throws {
        let s = try lookalike(policy: LimitPolicy(for: .seconds(1), action: .signal(SIGKILL)), owners: root)
        for _ in 0..<3 {
            s.sampleNow()
            clock.advance(by: .seconds(1))
        }
        XCTAssertEqual(s.usage["t"]?.processes, 1)
        XCTAssertEqual(s.usage["t"]?.residentBytes, 10 * 4096, "only the root-owned process counts")
        XCTAssertEqual(sample("vigil_plugin_foreign_processes{plugin=\"t\"}"), 1)
        XCTAssertEqual(sample("vigil_plugin_limit_exceeded{plugin=\"t\",resource=\"memory_bytes\"}"), 0)
        XCTAssertTrue(signals.sent.isEmpty)
    }

    func testWithoutOwnersTheLookalikeWouldBeSummedSoASignalPolicyIsRefused() throws {
        XCTAssertThrowsError(try lookalike(policy: LimitPolicy(for: .seconds(1), action: .signal(SIGKILL)), owners: nil)) { error in
            XCTAssertTrue("\(error)".contains("give the plugin owners"), "\(error)")
        }
        let watching = try lookalike(policy: nil, owners: nil)
        watching.sampleNow()
        XCTAssertEqual(watching.usage["t"]?.processes, 2, "a plugin that only watches may leave owners out")
    }

    func testAProcessWhoseRealOrEffectiveUserIsNotAnOwnerIsForeign() throws {
        XCTAssertTrue(root.admits(real: 0, effective: 0))
        XCTAssertFalse(root.admits(real: 65534, effective: 0), "a set-user-id root program run by another user")
        XCTAssertFalse(root.admits(real: 0, effective: 65534))
        XCTAssertEqual(ProcFiles.userIDs(Array("Name:\tx\nUid:\t1000\t0\t0\t0\n".utf8))?.real, 1000)
        XCTAssertEqual(ProcFiles.userIDs(Array("Name:\tx\nUid:\t1000\t0\t0\t0\n".utf8))?.effective, 0)
        XCTAssertNil(ProcFiles.userIDs(Array("Uid:\t99999999999\t0\n".utf8)), "an id past 32 bits is malformed, not wrapped")
        XCTAssertNil(ProcFiles.userIDs(Array("Name:\tx\n".utf8)))
        XCTAssertEqual(try ProcessOwners.resolving(["root", "1000"]).uids, [0, 1000])
        XCTAssertThrowsError(try ProcessOwners.resolving(["no-such-user-here"]))
        XCTAssertThrowsError(try ProcessOwners.resolving(["4294967295"]))
        XCTAssertThrowsError(try ProcessOwners.resolving([]))
    }

    func testPatternsThatMatchEverythingAreRefusedForASignalPolicy() throws {
        for rule: ProcessMatcher.Rule in [.commandLine(""), .commandLine(".*"), .commandLine("."), .commandLine("^"),
                                          .commandLine("x?"), .commandLine("[\\s\\S]"), .cgroup("/"), .cgroup(""), .comm([""])] {
            let matcher = try ProcessMatcher(rule)
            XCTAssertTrue(matcher.matchesEverything, "\(rule)")
            let plugin = PluginResources(
                name: "p", matchers: [matcher], owners: root, limits: ResourceLimits(memoryBytes: 1),
                onLimit: LimitPolicy(for: .zero, action: .signal(SIGKILL)))
            XCTAssertThrowsError(try ResourceSampler.controlled([plugin], source: FakeProc()), "\(rule)") { error in
                XCTAssertTrue("\(error)".contains("every process on the machine"), "\(error)")
            }
        }
        for rule: ProcessMatcher.Rule in [.commandLine("worker"), .commandLine("^/usr/bin/ocr "), .cgroup("/plugins/ocr"), .comm(["ocr"])] {
            XCTAssertFalse(try ProcessMatcher(rule).matchesEverything, "\(rule)")
        }
    }

    func testAnActionThatWouldSignalMoreThanMaxTargetsIsRefusedAndCounted() throws {
        var proc = FakeProc()
        for pid in Int32(40)..<50 { proc.addProcess(pid: pid, comm: "worker", rssPages: 100) }
        let plugin = PluginResources(
            name: "w", matchers: [try ProcessMatcher(.comm(["worker"]))], owners: root, limits: ResourceLimits(memoryBytes: 200_000),
            onLimit: LimitPolicy(for: .seconds(5), action: .signal(SIGTERM), maxTargets: 4))
        let s = try ResourceSampler.controlled([plugin], registry: registry, source: ProcBox(proc), clock: clock, signals: signals, log: log)
        s.sampleNow()
        XCTAssertEqual(sample("vigil_plugin_limit_actions_refused_total{plugin=\"w\",resource=\"memory_bytes\",reason=\"too_many_targets\"}"), 0)
        clock.advance(by: .seconds(5))
        s.sampleNow()
        s.sampleNow()
        XCTAssertTrue(signals.sent.isEmpty)
        XCTAssertEqual(sample("vigil_plugin_limit_actions_refused_total{plugin=\"w\",resource=\"memory_bytes\",reason=\"too_many_targets\"}"), 1,
                       "once per episode")
        XCTAssertEqual(sample("vigil_plugin_limit_actions_total{plugin=\"w\",resource=\"memory_bytes\",action=\"signal\"}"), 0)
        XCTAssertEqual(log.events.map(\.kind), [.exceeded, .refused(.tooManyTargets)])
    }

    func testAPluginThatIgnoresTheFirstSignalGetsTheEscalationOnceAfterItsDelay() throws {
        var proc = FakeProc()
        proc.addProcess(pid: 40, comm: "worker", rssPages: 100)
        proc.addProcess(pid: 41, comm: "worker", rssPages: 100)
        let box = ProcBox(proc)
        let plugin = PluginResources(
            name: "w", matchers: [try ProcessMatcher(.comm(["worker"]))], owners: root, limits: ResourceLimits(memoryBytes: 200_000),
            onLimit: LimitPolicy(for: .zero, action: .signal(SIGTERM), escalation: .init(signal: SIGKILL, after: .seconds(10))))
        let s = try ResourceSampler.controlled([plugin], registry: registry, source: box, clock: clock, signals: signals, log: log)
        s.sampleNow()
        XCTAssertEqual(signals.sent.map(\.signal), [SIGTERM, SIGTERM])
        box.proc.files["41/stat"] = nil  // 41 obeyed and exited
        clock.advance(by: .seconds(9))
        s.sampleNow()
        XCTAssertEqual(signals.sent.count, 2, "not before 10 s")
        clock.advance(by: .seconds(1))
        s.sampleNow()
        XCTAssertEqual(signals.sent.map(\.pid).suffix(1), [40], "only the process that ignored SIGTERM")
        XCTAssertEqual(signals.sent.last?.signal, SIGKILL)
        XCTAssertEqual(sample("vigil_plugin_limit_actions_total{plugin=\"w\",resource=\"memory_bytes\",action=\"escalate\"}"), 1)
        XCTAssertEqual(log.events.last?.summary, "escalated: sent SIGKILL to 1 process(es) after 10000ms over the limit")
        clock.advance(by: .seconds(30))
        s.sampleNow()
        XCTAssertEqual(signals.sent.count, 3, "once per episode")
    }

    func testAPIDReusedByAnotherProcessIsNotThePluginAndIsNeverSignalled() throws {
        var proc = FakeProc()
        proc.addProcess(pid: 77, comm: "daemon", rssPages: 100)
        let box = ProcBox(proc)
        let plugin = PluginResources(
            name: "d", matchers: [try ProcessMatcher(.pid(77))], owners: root, limits: ResourceLimits(memoryBytes: 200_000),
            onLimit: LimitPolicy(for: .seconds(5), action: .signal(SIGKILL)))
        let s = try ResourceSampler.controlled([plugin], registry: registry, source: box, clock: clock, signals: signals, log: log)
        s.sampleNow()
        XCTAssertEqual(s.usage["d"]?.processes, 1)
        // The daemon exits and another process (still root, still over the limit) gets pid 77.
        box.proc.files["77/stat"] = FakeProc.stat(pid: 77, comm: "other", start: 5000, rssPages: 100)
        clock.advance(by: .seconds(10))
        s.sampleNow()
        XCTAssertEqual(s.usage["d"]?.processes, 0)
        XCTAssertTrue(signals.sent.isEmpty)
        XCTAssertEqual(sample("vigil_sample_errors_total{plugin=\"d\",reason=\"pid_reused\"}"), 1)
        // The operator reloads: the process under pid 77 now is the plugin's.
        try s.update(plugins: [plugin])
        s.sampleNow()
        XCTAssertEqual(s.usage["d"]?.processes, 1)
    }

    func testAPIDFileWrittenAnewPinsTheProcessItNamesNow() throws {
        var proc = FakeProc()
        proc.addProcess(pid: 77, comm: "daemon")
        let box = ProcBox(proc)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-\(UUID()).pid")
        defer { try? FileManager.default.removeItem(at: file) }
        try "77\n".write(to: file, atomically: false, encoding: .utf8)
        let s = try ResourceSampler.controlled(
            [PluginResources(name: "d", matchers: [try ProcessMatcher(.pidFile(file.path))])], registry: registry, source: box)
        XCTAssertEqual(s.sampleNow()["d"]?.processes, 1)
        box.proc.files["77/stat"] = FakeProc.stat(pid: 77, comm: "other", start: 5000)
        XCTAssertEqual(s.sampleNow()["d"]?.processes, 0, "the stale file names a reused pid")
        XCTAssertEqual(sample("vigil_sample_errors_total{plugin=\"d\",reason=\"pid_reused\"}"), 1)
        try "77 \n".write(to: file, atomically: true, encoding: .utf8)  // the daemon restarted and wrote it again
        XCTAssertEqual(s.sampleNow()["d"]?.processes, 1)
    }

    /// A FIFO, a link to /dev/zero, another user's file and a large file are refused at once,
    /// counted, and the other plugin of the sweep is sampled as usual.
    func testUnsafePIDFilesAreCountedErrorsAndNeverStallTheSweep() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-pidfiles-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("fifo.pid").path
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let link = dir.appendingPathComponent("zero.pid").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/dev/zero")
        let large = dir.appendingPathComponent("large.pid").path
        try String(repeating: "7", count: 100).write(toFile: large, atomically: false, encoding: .utf8)
        let foreign = dir.appendingPathComponent("foreign.pid").path
        try "77\n".write(toFile: foreign, atomically: false, encoding: .utf8)
        XCTAssertEqual(chown(foreign, 65534, 65534), 0)
        var proc = FakeProc()
        proc.addProcess(pid: 77, comm: "daemon")
        proc.addProcess(pid: 88, comm: "fine")
        var plugins = [PluginResources(name: "fine", matchers: [try ProcessMatcher(.comm(["fine"]))])]
        for (name, path) in [("fifo", fifo), ("zero", link), ("large", large)] {
            plugins.append(PluginResources(name: name, matchers: [try ProcessMatcher(.pidFile(path))]))
        }
        plugins.append(PluginResources(name: "foreign", matchers: [try ProcessMatcher(.pidFile(foreign))], owners: root))
        let s = try ResourceSampler.controlled(plugins, registry: registry, source: ProcBox(proc))
        let done = DispatchSemaphore(value: 0)
        let usage = Mutex<[String: PluginUsage]>([:])
        Thread { usage.withLock { $0 = s.sampleNow() }; done.signal() }.start()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success, "a FIFO pid file stalled the sweep")
        XCTAssertEqual(usage.withLock { $0["fine"]?.processes }, 1)
        for name in ["fifo", "zero", "large", "foreign"] {
            XCTAssertEqual(usage.withLock { $0[name]?.processes }, 0, name)
            XCTAssertEqual(sample("vigil_sample_errors_total{plugin=\"\(name)\",reason=\"unsafe_pid_file\"}"), 1, name)
        }
        XCTAssertThrowsError(try PIDFile.read(foreign, owners: nil)) { error in
            XCTAssertTrue("\(error)".contains("owned by uid 65534"), "\(error)")
        }
        XCTAssertEqual(try PIDFile.read(foreign, owners: ProcessOwners(uids: [65534])).pid, 77, "the plugin's own user may write it")
    }

    func testACommandLineIsReadNoFurtherThanItsBound() throws {
        let fixture = try ProcFixture()
        try fixture.process(pid: 50, comm: "big", start: 1)
        let arguments = "python worker.py " + String(repeating: "a", count: 2 << 20) + " --plugin=ocr"
        try Data(arguments.utf8.map { $0 == UInt8(ascii: " ") ? 0 : $0 }).write(to: fixture.root.appendingPathComponent("50/cmdline"))
        XCTAssertEqual(try fixture.source.read("50/cmdline", atMost: ProcessTable.commandLineLimit).count, ProcessTable.commandLineLimit)
        XCTAssertEqual(try fixture.source.read("50/cmdline", atMost: 10), Array("python\0wor".utf8))
        let s = try ResourceSampler(
            plugins: [
                PluginResources(name: "head", matchers: [try ProcessMatcher(.commandLine("^python worker\\.py a"))]),
                PluginResources(name: "tail", matchers: [try ProcessMatcher(.commandLine("--plugin=ocr$"))]),
            ], registry: registry, source: fixture.source, constants: fixedConstants)
        let usage = s.sampleNow()
        XCTAssertEqual(usage["head"]?.processes, 1)
        XCTAssertEqual(usage["tail"]?.processes, 0, "what lies past the first 32 KiB is never read")
    }

    /// A reload that removes a policy while a sweep reads the plugin: the sweep does not act on
    /// what it copied before the reload.
    func testASweepDoesNotActOnAPolicyAReloadRemovedWhileItRead() throws {
        var proc = FakeProc()
        proc.addProcess(pid: 40, comm: "worker", rssPages: 100)
        let source = ReloadingProc(proc, trigger: "40/stat")
        let policed = PluginResources(
            name: "w", matchers: [try ProcessMatcher(.comm(["worker"]))], owners: root, limits: ResourceLimits(memoryBytes: 200_000),
            onLimit: LimitPolicy(for: .zero, action: .signal(SIGKILL)))
        let s = try ResourceSampler.controlled([policed], registry: registry, source: source, clock: clock, signals: signals, log: log)
        var watched = policed
        watched.onLimit = nil
        source.duringRead = { _ = try? s.update(plugins: [watched]) }
        s.sampleNow()
        XCTAssertTrue(signals.sent.isEmpty, "the operator removed on_limit before the sweep acted")
        s.sampleNow()
        XCTAssertTrue(signals.sent.isEmpty)
        XCTAssertEqual(s.usage["w"]?.processes, 1, "the next sweep reads the plugin under its new configuration")
    }

    func testTheSamplerReportsItsSweepsDurationAndTheTimeOfTheLastOne() throws {
        var proc = FakeProc()
        proc.addProcess(pid: 40, comm: "worker")
        let s = try ResourceSampler.controlled(
            [PluginResources(name: "w", matchers: [try ProcessMatcher(.comm(["worker"]))])], registry: registry, source: ProcBox(proc))
        XCTAssertEqual(sample("vigil_sampler_sweep_duration_seconds_count"), 0)
        XCTAssertEqual(sample("vigil_sampler_last_sweep_timestamp_seconds"), 0)
        XCTAssertEqual(sample("vigil_sampler_interval_seconds"), 1)
        let before = Date().timeIntervalSince1970
        s.sampleNow()
        s.sampleNow()
        XCTAssertEqual(sample("vigil_sampler_sweep_duration_seconds_count"), 2)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(sample("vigil_sampler_last_sweep_timestamp_seconds")), before.rounded(.down))
    }
}

/// A /proc that runs `duringRead` (once) when the sweep reads `trigger`: a reload that lands
/// while a sweep is under way.
final class ReloadingProc: ProcSource, @unchecked Sendable {
    let proc: FakeProc
    let trigger: String
    var duringRead: (() -> Void)?

    init(_ proc: FakeProc, trigger: String) {
        self.proc = proc
        self.trigger = trigger
    }

    func read(_ path: String) throws(ProcError) -> [UInt8] {
        if path == trigger, let hook = duringRead {
            duringRead = nil
            hook()
        }
        return try proc.read(path)
    }

    func list(_ path: String) throws(ProcError) -> [String] { try proc.list(path) }
    func readLink(_ path: String) throws(ProcError) -> String { try proc.readLink(path) }
}
