import Logging
import VigilSupport
import ServiceLifecycle
import Vigil

#if canImport(Glibc)
import Glibc
#endif

/// The timings of the demo's story: how often the translation backend goes down, and how the
/// hungry child's memory swings. `fast` is for tests that cannot wait a minute.
public struct DemoTimings: Sendable {
    public var cycle: Duration
    public var outage: Duration
    public var breakerOpenTimeout: Duration
    public var hogPeriod: Duration

    public static let normal = DemoTimings(cycle: .seconds(60), outage: .seconds(20), breakerOpenTimeout: .seconds(10), hogPeriod: .seconds(20))
    public static let fast = DemoTimings(cycle: .seconds(16), outage: .seconds(6), breakerOpenTimeout: .seconds(2), hogPeriod: .seconds(6))
}

// MARK: The demo's plugins, written the way a host would write them.

struct Decode: Phase {
    var name: String { "decode" }
    func execute(_ input: [UInt8]) async throws -> [UInt32] {
        input.map { UInt32($0) &* 2_654_435_761 }
    }
}

struct Recognize: Phase {
    var name: String { "recognize" }
    func execute(_ input: [UInt32]) async throws -> [UInt32] {
        try await Task.sleep(for: .milliseconds(Int.random(in: 5...40)))
        return input.sorted()
    }
}

struct StorePage: Phase {
    var name: String { "store" }
    func execute(_ input: [UInt32]) async throws -> Int {
        try await Task.sleep(for: .milliseconds(Int.random(in: 1...5)))
        return input.reduce(0) { $0 &+ Int($1) }
    }
}

struct OCRPlugin: Plugin {
    var name: String { "ocr" }
    var phases: PhaseChain<PhaseChain<Decode, Recognize>, StorePage> { Decode().then(Recognize()).then(StorePage()) }
}

struct Tokenize: Phase {
    var name: String { "tokenize" }
    func execute(_ input: String) async throws -> [Substring] { input.split(separator: " ") }
}

/// Calls a backend that is down for `outage` out of every `cycle`.
struct CallBackend: Phase {
    struct Unavailable: ClassifiedError { var errorType: String { "backend_unavailable" } }
    let started: ContinuousClock.Instant
    let timings: DemoTimings
    var name: String { "call_backend" }
    func execute(_ input: [Substring]) async throws -> [String] {
        try await Task.sleep(for: .milliseconds(Int.random(in: 2...15)))
        let elapsed = started.duration(to: .now)
        let intoCycle = elapsed - timings.cycle * Int(elapsed / timings.cycle)
        let down = intoCycle >= timings.cycle / 4 && intoCycle < timings.cycle / 4 + timings.outage
        if down || Int.random(in: 0..<50) == 0 { throw Unavailable() }
        return input.map { String($0.reversed()) }
    }
}

struct Join: Phase {
    var name: String { "join" }
    func execute(_ input: [String]) async throws -> String { input.joined(separator: " ") }
}

/// The demo: an embedded host running plugins, a flaky one behind a breaker, and a hungry
/// child process watched against a memory limit.
struct DemoService: Service {
    let observer: PluginObserver
    let breaker: CircuitBreaker
    let timings: DemoTimings
    let sampler: ResourceSampler
    let logger: Logger

    func run() async throws {
        let ocr = OCRPlugin().observed(by: observer)
        let started = ContinuousClock.now
        let translate = Tokenize().then(CallBackend(started: started, timings: timings).guarded(by: breaker)).then(Join())
            .observed(plugin: "translate", by: observer)
        let tracer = observer.tracer
        let runs = Counters()
        await withDiscardingTaskGroup { group in
            for worker in 0..<4 {
                group.addTask {
                    await cancelWhenGracefulShutdown {
                        while !Task.isCancelled {
                            do {
                                if worker < 2 {
                                    _ = try await ocr.run((0..<Int.random(in: 2_000...20_000)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
                                } else if let tracer {
                                    _ = try await tracer.withSpan("translate") { _ in try await translate.execute("the quick brown fox jumps") }
                                } else {
                                    _ = try await translate.execute("the quick brown fox jumps")
                                }
                                runs.add(worker < 2 ? 0 : 1, failed: false)
                            } catch {
                                runs.add(worker < 2 ? 0 : 1, failed: true)
                                try? await Task.sleep(for: .milliseconds(50))
                            }
                            try? await Task.sleep(for: .milliseconds(Int.random(in: 20...80)))
                        }
                    }
                }
            }
            group.addTask {
                await cancelWhenGracefulShutdown {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(5))
                        let usage = sampler.usage["hungry-child"]
                        let memory = usage.map { "\($0.residentBytes >> 20) MiB" } ?? "?"
                        let (ocrRuns, translateRuns, failures) = runs.snapshot
                        logger.info("demo progress", metadata: [
                            "ocr_runs": "\(ocrRuns)", "translate_runs": "\(translateRuns)", "failed": "\(failures)",
                            "breaker": "\(breaker.state.rawValue)", "hungry_child_memory": "\(memory)",
                        ])
                    }
                }
            }
        }
    }
}

/// Runs counted by the demo's workers, for its progress lines.
final class Counters: Sendable {
    private let counts = Locked((ocr: 0, translate: 0, failed: 0))
    func add(_ which: Int, failed: Bool) {
        counts.withLock { c in
            if which == 0 { c.ocr += 1 } else { c.translate += 1 }
            if failed { c.failed += 1 }
        }
    }
    var snapshot: (Int, Int, Int) { counts.withLock { ($0.ocr, $0.translate, $0.failed) } }
}

/// The hungry child: holds `high` bytes for a period, then `low`, again and again.
public enum Hog {
    public static func run(high: UInt64, low: UInt64, period: Duration) -> Never {
        var held: [UInt8] = []
        var big = true
        while true {
            let target = Int(big ? high : low)
            held = [UInt8](repeating: 0, count: target)
            for i in stride(from: 0, to: held.count, by: 4096) { held[i] = 1 }  // make every page resident
            let (seconds, attoseconds) = period.components
            usleep(UInt32(seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
            big.toggle()
            if getppid() == 1 { exit(0) }  // the parent is gone: so is the demo
        }
    }
}

extension Sidecar {
    /// The demo's configuration: the host itself and its hungry child, with limits.
    public static func demoConfig(listen: String?, hogPID: Int32) throws -> SidecarConfig {
        var config = SidecarConfig()
        if let listen, let (host, port) = SidecarConfig.hostPort(listen) { (config.listenHost, config.listenPort) = (host, port) }
        config.serviceName = "vigil-demo"
        config.samplingInterval = .seconds(1)
        config.plugins = [
            PluginResources(name: "demo-host", matchers: [try ProcessMatcher(.currentProcess)],
                            limits: ResourceLimits(memoryBytes: 1 << 30, cpuRatio: 1.5, openFDs: 1024, threads: 64)),
            PluginResources(name: "hungry-child", matchers: [try ProcessMatcher(.pid(hogPID))],
                            limits: ResourceLimits(memoryBytes: 64 << 20, openFDs: 64)),
        ]
        return config
    }

    /// Runs the demo until SIGTERM or SIGINT.
    public func runDemo(timings: DemoTimings, onListening: @escaping @Sendable (Int) -> Void) async throws {
        let observer = try PluginObserver(registry: registry, tracer: tracer)
        var breakerConfig = CircuitBreaker.Configuration()
        breakerConfig.policy = .consecutiveFailures(5)
        breakerConfig.openTimeout = timings.breakerOpenTimeout
        let logger = self.logger
        let breaker = try CircuitBreaker(plugin: "translate", name: "backend", configuration: breakerConfig, registry: registry, onStateChange: { t in
            logger.notice("breaker \(t.from.rawValue) -> \(t.to.rawValue)", metadata: ["plugin": "\(t.plugin)", "breaker": "\(t.breaker)", "reason": "\(t.reason)"])
        })
        try await run(extraServices: [DemoService(observer: observer, breaker: breaker, timings: timings, sampler: sampler, logger: logger)],
                      onListening: onListening)
    }
}
