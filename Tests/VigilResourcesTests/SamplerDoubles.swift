import Foundation
import Synchronization
import VigilMetrics
@testable import VigilResources

/// A monotonic clock a test moves by hand, so that "stayed over the limit for 30 s" takes no time.
final class ManualClock: Sendable {
    private let seconds = Mutex(1000.0)

    var now: Double { seconds.withLock { $0 } }
    func advance(by duration: Duration) { seconds.withLock { $0 += duration.seconds } }
}

/// Stands in for kill(2): records each signal and answers with the errno a test chose for a pid.
final class SignalRecorder: Sendable {
    private let state = Mutex<(sent: [(pid: Int32, signal: Int32)], refusals: [Int32: Int32])>(([], [:]))

    func refuse(_ pid: Int32, with errno: Int32) { state.withLock { $0.refusals[pid] = errno } }
    var sent: [(pid: Int32, signal: Int32)] { state.withLock { $0.sent } }

    func send(_ pid: Int32, _ startTime: UInt64, _ signal: Int32) -> Int32 {
        state.withLock { state in
            if let errno = state.refusals[pid] { return errno }
            state.sent.append((pid, signal))
            return 0
        }
    }
}

/// What the sampler told the host: limit events and breaker calls, in order.
final class HostLog: Sendable {
    private let state = Mutex<(events: [LimitEvent], breaker: [(plugin: String, open: Bool)])>(([], []))

    func record(_ event: LimitEvent) { state.withLock { $0.events.append(event) } }
    func breaker(_ plugin: String, _ open: Bool) { state.withLock { $0.breaker.append((plugin, open)) } }
    var events: [LimitEvent] { state.withLock { $0.events } }
    var actions: [LimitEvent.ActionTaken] {
        events.compactMap { if case .action(let taken) = $0.kind { taken } else { nil } }
    }
    var breakerCalls: [Bool] { state.withLock { $0.breaker.map(\.open) } }
}

extension ResourceSampler {
    /// A sampler over a fixture, on a clock and a kill(2) the test controls.
    static func controlled(
        _ plugins: [PluginResources], registry: Registry = Registry(), source: any ProcSource, clock: ManualClock = ManualClock(),
        signals: SignalRecorder = SignalRecorder(), log: HostLog = HostLog(), breakerHook: Bool = true
    ) throws -> ResourceSampler {
        try ResourceSampler(
            plugins: plugins, registry: registry, interval: .seconds(1), source: source, constants: fixedConstants,
            onLimitEvent: log.record, onBreaker: breakerHook ? log.breaker : nil, monotonic: { clock.now },
            sendSignal: signals.send)
    }
}

extension Registry {
    /// The value of one sample in the text exposition, such as
    /// `vigil_plugin_process_starts_total{plugin="w"}`; nil when it is not exposed.
    func sample(_ series: String) -> Double? {
        renderString().split(separator: "\n").first { $0.hasPrefix(series + " ") }
            .flatMap { Double($0.dropFirst(series.count + 1)) }
    }
}

/// A folder laid out like /proc, for `ProcFileSystem(root:)`; removed when released.
final class ProcFixture {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-proc-\(UUID())")

    init() throws {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    var source: ProcFileSystem { ProcFileSystem(root: root.path) }

    /// Writes (or rewrites) `<pid>/stat` and `<pid>/limits`, with an empty `fd/`.
    func process(pid: Int32, comm: String, start: UInt64) throws {
        let dir = root.appendingPathComponent("\(pid)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("fd"), withIntermediateDirectories: true)
        try FakeProc.stat(pid: pid, comm: comm, start: start).write(to: dir.appendingPathComponent("stat"), atomically: true, encoding: .utf8)
        try "Max open files            1024                 4096                 files     \n"
            .write(to: dir.appendingPathComponent("limits"), atomically: true, encoding: .utf8)
        try "read_bytes: 0\nwrite_bytes: 0\n".write(to: dir.appendingPathComponent("io"), atomically: true, encoding: .utf8)
        try "Uid:\t0\t0\t0\t0\nvoluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n"
            .write(to: dir.appendingPathComponent("status"), atomically: true, encoding: .utf8)
    }

    func removeProcess(pid: Int32) throws {
        try FileManager.default.removeItem(at: root.appendingPathComponent("\(pid)"))
    }
}
