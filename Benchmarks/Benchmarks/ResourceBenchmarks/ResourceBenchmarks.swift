// The cost of sampling plugin processes from /proc: one sweep over 1, 50 and 200 real
// processes. The sampler's CPU share at a 5 s interval is the 50-process sweep time / 5 s.
import Benchmark
import Foundation
import Vigil

/// `count` sleeping child processes, killed when the benchmark ends. posix_spawn, not
/// Foundation's Process, which stalls reaping hundreds of children on Linux.
final class Sleepers: @unchecked Sendable {
    let pids: [Int32]

    init(_ count: Int) throws {
        var pids: [Int32] = []
        for _ in 0..<count {
            var pid: Int32 = 0
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("600"), nil]
            defer { argv.forEach { free($0) } }
            let rc = posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ)
            guard rc == 0 else { throw NSError(domain: "posix_spawn", code: Int(rc)) }
            pids.append(pid)
        }
        self.pids = pids
    }

    func stop() {
        for pid in pids { kill(pid, SIGKILL) }
        for pid in pids { waitpid(pid, nil, 0) }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .cpuTotal, .mallocCountTotal], maxDuration: .seconds(3), maxIterations: 2_000)

    for count in [1, 50, 200] {
        let sleepers = Locked<Sleepers?>(nil)
        Benchmark("sweep of \(count) processes matched by pid") { (benchmark: Benchmark, sampler: ResourceSampler) in
            for _ in benchmark.scaledIterations { blackHole(sampler.sampleNow()) }
        } setup: {
            let s = try Sleepers(count)
            sleepers.set(s)
            let matchers = try s.pids.map { try ProcessMatcher(.pid($0)) }
            return try ResourceSampler(
                plugins: [PluginResources(name: "p", matchers: matchers, limits: ResourceLimits(memoryBytes: 1 << 30))], registry: Registry())
        } teardown: {
            sleepers.take()?.stop()
        }
    }

    let sleepers = Locked<Sleepers?>(nil)
    Benchmark("sweep of 200 processes matched by comm (scans every process)") { (benchmark: Benchmark, sampler: ResourceSampler) in
        for _ in benchmark.scaledIterations { blackHole(sampler.sampleNow()) }
    } setup: {
        sleepers.set(try Sleepers(200))
        return try ResourceSampler(plugins: [PluginResources(name: "p", matchers: [try ProcessMatcher(.comm(["sleep"]))])], registry: Registry())
    } teardown: {
        sleepers.take()?.stop()
    }
}

/// A box for state that setup hands to teardown.
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func set(_ new: T) { lock.withLock { value = new } }
    func take() -> T where T: ExpressibleByNilLiteral { lock.withLock { defer { value = nil }; return value } }
}
