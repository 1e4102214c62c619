import Foundation
import VigilMetrics
import XCTest
@testable import VigilResources

/// What a `LimitPolicy` does when a limit stays exceeded, on a clock the test moves and with
/// kill(2) replaced by a recorder: when it acts, how often, to whom, and how it is reported.
final class LimitPolicyTests: XCTestCase {
    let clock = ManualClock()
    let signals = SignalRecorder()
    let log = HostLog()
    let registry = Registry()
    let root = ProcessOwners(uids: [0])

    /// A plugin of worker processes, 100 pages (409 600 bytes) each, limited to 200 000 bytes.
    func workers(_ pids: [Int32] = [40], policy: LimitPolicy?, threads: Int? = nil) throws -> (ResourceSampler, ProcBox) {
        var proc = FakeProc()
        for pid in pids { proc.addProcess(pid: pid, comm: "worker", rssPages: 100) }
        let box = ProcBox(proc)
        let plugin = PluginResources(
            name: "w", matchers: [try ProcessMatcher(.comm(["worker"]))], owners: root,
            limits: ResourceLimits(memoryBytes: 200_000, threads: threads), onLimit: policy)
        let sampler = try ResourceSampler.controlled(
            [plugin], registry: registry, source: box, clock: clock, signals: signals, log: log)
        return (sampler, box)
    }

    func setResident(_ box: ProcBox, _ pid: Int32, pages: UInt64, threads: Int = 1) {
        box.proc.files["\(pid)/stat"] = FakeProc.stat(pid: pid, comm: "worker", threads: threads, rssPages: pages)
    }

    func actions(_ action: String, _ resource: String = "memory_bytes") -> Double? {
        registry.sample("vigil_plugin_limit_actions_total{plugin=\"w\",resource=\"\(resource)\",action=\"\(action)\"}")
    }

    func testTheSignalGoesOutOnceTheLimitHasStayedExceededForItsDurationAndOncePerEpisode() throws {
        let (s, box) = try workers(policy: LimitPolicy(for: .seconds(30), action: .signal(SIGTERM)))
        s.sampleNow()
        XCTAssertEqual(actions("signal"), 0, "the series is there before the first action")
        clock.advance(by: .seconds(29))
        s.sampleNow()
        XCTAssertTrue(signals.sent.isEmpty, "29 s over a 30 s policy")
        clock.advance(by: .seconds(1))
        s.sampleNow()
        XCTAssertEqual(signals.sent.map(\.pid), [40])
        XCTAssertEqual(signals.sent.map(\.signal), [SIGTERM])
        XCTAssertEqual(actions("signal"), 1)
        XCTAssertEqual(log.actions, [LimitEvent.ActionTaken(
            action: .signal(SIGTERM), dryRun: false, exceededFor: .seconds(30), pids: [40], failures: [])])
        XCTAssertEqual(log.events.map(\.summary), ["limit exceeded", "sent SIGTERM to 1 process(es) after 30000ms over the limit"])
        clock.advance(by: .seconds(120))
        s.sampleNow()
        XCTAssertEqual(signals.sent.count, 1, "still the same episode: no second signal")

        setResident(box, 40, pages: 1)
        s.sampleNow()
        setResident(box, 40, pages: 100)
        s.sampleNow()
        clock.advance(by: .seconds(30))
        s.sampleNow()
        XCTAssertEqual(signals.sent.count, 2, "a new episode acts again")
        XCTAssertEqual(actions("signal"), 2)
    }

    func testADryRunIsCountedAndReportedAndSendsNothing() throws {
        let (s, _) = try workers(policy: LimitPolicy(for: .zero, action: .signal(SIGKILL), dryRun: true))
        s.sampleNow()
        s.sampleNow()
        XCTAssertTrue(signals.sent.isEmpty)
        XCTAssertEqual(actions("dry_run"), 1)
        XCTAssertNil(actions("signal"))
        XCTAssertEqual(log.actions.map(\.pids), [[40]], "the processes it would have signalled")
        XCTAssertEqual(log.events.last?.summary, "dry run: would send SIGKILL to 1 process(es) after 0ms over the limit")
    }

    func testEveryProcessIsSignalledAndRefusalsAreReportedAndCountedAsSampleErrors() throws {
        signals.refuse(41, with: EPERM)
        let (s, _) = try workers([40, 41], policy: LimitPolicy(for: .zero, action: .signal(SIGTERM)))
        s.sampleNow()
        XCTAssertEqual(signals.sent.map(\.pid), [40])
        XCTAssertEqual(log.actions.first?.pids, [40, 41])
        XCTAssertEqual(log.actions.first?.failures, [LimitEvent.SignalFailure(pid: 41, errno: EPERM)])
        XCTAssertEqual(log.events.last?.summary,
                       "sent SIGTERM to 1 process(es) after 0ms over the limit; failed for pid 41: Operation not permitted")
        XCTAssertEqual(actions("signal"), 1)
        XCTAssertEqual(registry.sample("vigil_sample_errors_total{plugin=\"w\",reason=\"permission_denied\"}"), 1)
    }

    func testAPIDHandedToAnotherProcessSinceTheSampleIsNotSignalled() throws {
        // A live child, which /proc (as the sender reads it after taking its pidfd) shows with a
        // later start time than the sample saw: another process under the same pid.
        let child = try Workload([])
        let source = RestartedProc(pid: child.pid)
        let stat = try ProcStat.parse(try ProcFileSystem().read("\(child.pid)/stat"), path: "stat")
        XCTAssertEqual(ResourceSampler.signal(child.pid, startedAt: stat.startTime, SIGKILL, source: source), ESRCH)
        try child.send("free")  // it answers: no SIGKILL reached it
        XCTAssertTrue(child.process.isRunning)
        XCTAssertEqual(ResourceSampler.signal(child.pid, startedAt: stat.startTime, SIGCONT, source: ProcFileSystem()), 0,
                       "the same process, identified through its pidfd, gets the signal")
    }

    func testTheBreakerOpensWhileThePluginIsOverAndClosesOnceItIsBackUnderEveryLimit() throws {
        let (s, box) = try workers(policy: LimitPolicy(for: .seconds(5), action: .breaker), threads: 2)
        setResident(box, 40, pages: 100, threads: 3)  // over both limits
        s.sampleNow()
        clock.advance(by: .seconds(5))
        s.sampleNow()
        XCTAssertEqual(log.breakerCalls, [true], "opened once, though two limits acted")
        XCTAssertEqual(actions("breaker"), 1)
        XCTAssertEqual(actions("breaker", "threads"), 1)
        setResident(box, 40, pages: 1, threads: 3)  // memory back under, threads still over
        s.sampleNow()
        XCTAssertEqual(log.breakerCalls, [true])
        setResident(box, 40, pages: 1, threads: 1)
        s.sampleNow()
        XCTAssertEqual(log.breakerCalls, [true, false])
        XCTAssertTrue(signals.sent.isEmpty)
    }

    func testAReloadOrRemovalThatEndsTheHoldClosesTheBreakers() throws {
        let policy = LimitPolicy(for: .zero, action: .breaker)
        let (s, _) = try workers(policy: policy)
        s.sampleNow()
        XCTAssertEqual(log.breakerCalls, [true])
        var plugin = s.plugins[0]
        plugin.onLimit = LimitPolicy(for: .zero, action: .breaker, dryRun: true)
        try s.update(plugins: [plugin])
        XCTAssertEqual(log.breakerCalls, [true, false], "a dry run holds no breaker open")

        plugin.onLimit = policy
        try s.update(plugins: [plugin])
        s.sampleNow()
        XCTAssertEqual(log.breakerCalls, [true, false], "the episode already acted")
        s.remove(plugin: "w")
        XCTAssertEqual(log.breakerCalls, [true, false], "nothing held, nothing to close")
    }

    func testRemovingAPluginThatHoldsItsBreakersClosesThem() throws {
        let (s, _) = try workers(policy: LimitPolicy(for: .zero, action: .breaker))
        s.sampleNow()
        XCTAssertTrue(s.remove(plugin: "w"))
        XCTAssertEqual(log.breakerCalls, [true, false])
    }

    func testPoliciesThatCannotWorkAreRefusedWithWhatWouldWork() throws {
        func refusal(_ policy: LimitPolicy, matcher: ProcessMatcher.Rule = .comm(["w"]), hook: Bool = true) -> String {
            do {
                _ = try ResourceSampler.controlled(
                    [PluginResources(name: "p", matchers: [try ProcessMatcher(matcher)], onLimit: policy)], source: FakeProc(),
                    breakerHook: hook)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(refusal(LimitPolicy(for: .zero, action: .breaker), hook: false),
                       "plugin \"p\": its limit policy opens circuit breakers, but the sampler has no onBreaker hook to open them with; pass onBreaker: to ResourceSampler.init")
        XCTAssertEqual(refusal(LimitPolicy(for: .zero, action: .breaker, dryRun: true), hook: false), "accepted")
        XCTAssertEqual(refusal(LimitPolicy(for: .zero, action: .signal(SIGTERM)), matcher: .currentProcess),
                       "plugin \"p\": its limit policy would signal the process the sampler runs in (a matcher selects the current process); use .breaker, or match only the plugin's own processes")
        XCTAssertEqual(refusal(LimitPolicy(for: .seconds(-1), action: .watch)),
                       "plugin \"p\": its limit policy waits a negative time (-1.0 seconds); use zero or more")
        XCTAssertEqual(refusal(LimitPolicy(for: .zero, action: .signal(99))),
                       "plugin \"p\": its limit policy names signal 99, which Linux does not have (1 to 64)")
    }

    func testAFixtureFoldersPIDsAreNeverSignalled() throws {
        // The fixture names a live child of ours; SIGCONT would reach it harmlessly if it were sent.
        let child = try Workload([])
        let fixture = try ProcFixture()
        try fixture.process(pid: child.pid, comm: "worker", start: 1)
        let s = try ResourceSampler(
            plugins: [PluginResources(
                name: "w", matchers: [try ProcessMatcher(.comm(["worker"]))], owners: root, limits: ResourceLimits(threads: 0),
                onLimit: LimitPolicy(for: .zero, action: .signal(SIGCONT)))],
            registry: registry, source: fixture.source, constants: fixedConstants, onLimitEvent: log.record)
        s.sampleNow()
        XCTAssertEqual(log.actions, [], "no signal is sent to a pid read from another /proc")
        XCTAssertEqual(log.events.map(\.kind), [.exceeded, .refused(.foreignPIDNamespace)])
        XCTAssertEqual(registry.sample(
            "vigil_plugin_limit_actions_refused_total{plugin=\"w\",resource=\"threads\",reason=\"pid_namespace\"}"), 1)
        try child.send("free")  // it answers: it was not stopped or killed
    }

    func testSignalNamesAndNumbers() {
        XCTAssertEqual(LimitPolicy.signal(named: "TERM"), SIGTERM)
        XCTAssertEqual(LimitPolicy.signal(named: "sigkill"), SIGKILL)
        XCTAssertEqual(LimitPolicy.signal(named: "10"), 10)
        XCTAssertNil(LimitPolicy.signal(named: "TREM"))
        XCTAssertNil(LimitPolicy.signal(named: "0"))
        XCTAssertNil(LimitPolicy.signal(named: "65"))
        XCTAssertEqual(LimitPolicy.describe(signal: SIGUSR2), "SIGUSR2")
        XCTAssertEqual(LimitPolicy.describe(signal: 40), "signal 40")
    }
}

/// The real /proc, except that process `pid`'s `stat` shows a later start time: what the sender
/// reads when the pid was handed to another process after the sample.
struct RestartedProc: ProcSource {
    let pid: Int32
    let live = ProcFileSystem()

    func read(_ path: String) throws(ProcError) -> [UInt8] {
        guard path == "\(pid)/stat" else { return try live.read(path) }
        return Array(FakeProc.stat(pid: pid, comm: "worker", start: .max).utf8)
    }

    func list(_ path: String) throws(ProcError) -> [String] { try live.list(path) }
    func readLink(_ path: String) throws(ProcError) -> String { try live.readLink(path) }
}
