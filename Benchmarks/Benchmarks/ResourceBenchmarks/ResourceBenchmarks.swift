// The cost of sampling plugin processes from /proc: one sweep over 1, 50 and 200 real
// processes, and the sweep with `cmdline` matchers over 200 processes beside process-exporter
// (the peer) scraped for the same 200 processes in the same run. The sampler's CPU share at a
// 5 s interval is the sweep time / 5 s.
import Benchmark
import Foundation
import Vigil

/// `count` sleeping child processes, killed when the benchmark ends. posix_spawn, not
/// Foundation's Process, which stalls reaping hundreds of children on Linux. `argv0(i)` names
/// child `i` (its command line is that name and "600").
final class Sleepers: @unchecked Sendable {
    let pids: [Int32]

    init(_ count: Int, argv0: (Int) -> String = { _ in "/bin/sleep" }) throws {
        var pids: [Int32] = []
        for i in 0..<count {
            var pid: Int32 = 0
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup(argv0(i)), strdup("600"), nil]
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

/// The watched fleet of the peer comparison: 200 sleepers with distinct command lines, in four
/// groups of 50 that four `cmdline` patterns select, for Vigil and for process-exporter alike.
enum Fleet {
    static let size = 200
    static let groups = ["a", "b", "c", "d"]
    static func argv0(_ i: Int) -> String { "vigil-bench-\(i)-\(groups[i % groups.count])" }
    static func pattern(_ group: String) -> String { "^vigil-bench-[0-9]+-\(group) 600$" }
}

/// CPU time of a process in nanoseconds: utime + stime of /proc/<pid>/stat (every thread,
/// exited ones included), in clock ticks.
func cpuNanoseconds(of pid: Int32) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return 0 }
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { return 0 }
    return (user + system) * (1_000_000_000 / sysconf(Int32(_SC_CLK_TCK)))
}

/// Resident memory of a process, from VmRSS in /proc/<pid>/status.
func residentBytes(of pid: Int32) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kib = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kib * 1024
}

/// This process's CPU time in nanoseconds, at nanosecond resolution.
func ownCPUNanoseconds() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
    return now.tv_sec * 1_000_000_000 + now.tv_nsec
}

/// process-exporter watching the fleet through the same four patterns, with smaps and
/// per-thread figures off (Vigil reads neither), on a loopback port.
final class ProcessExporter: @unchecked Sendable {
    static let binary = "/usr/bin/prometheus-process-exporter"
    let pid: Int32
    let port: UInt16
    private let config: String

    init() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw NSError(domain: "process-exporter is missing: apt-get install prometheus-process-exporter (scripts/setup does)", code: 1)
        }
        port = UInt16.random(in: 20000...30000)
        config = NSTemporaryDirectory() + "vigil-bench-process-exporter-\(getpid()).yml"
        let groups = Fleet.groups.map { "  - name: \($0)\n    cmdline: ['\(Fleet.pattern($0))']\n" }.joined()
        try ("process_names:\n" + groups).write(toFile: config, atomically: true, encoding: .utf8)
        let arguments = [Self.binary, "-config.path", config, "-web.listen-address", "127.0.0.1:\(port)",
                         "-gather-smaps=false", "-threads=false"]
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: Int32 = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let rc = posix_spawn(&pid, Self.binary, &actions, nil, argv, environ)
        guard rc == 0 else { throw NSError(domain: "posix_spawn process-exporter", code: Int(rc)) }
        self.pid = pid
        // Ready when a scrape counts the whole fleet.
        for _ in 0..<500 {
            if let body = scrape(), Fleet.groups.allSatisfy({ body.contains("namedprocess_namegroup_num_procs{groupname=\"\($0)\"} 50") }) { return }
            usleep(20_000)
        }
        stop()
        throw NSError(domain: "process-exporter never counted the 200 sleepers", code: 2)
    }

    /// One GET of /metrics over a plain socket (HTTP/1.0, so the peer closes when done).
    func scrape() -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        let request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
        guard request.withCString({ write(fd, $0, strlen($0)) }) > 0 else { return nil }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            response += buffer[..<n]
        }
        return String(decoding: response, as: UTF8.self)
    }

    func stop() {
        kill(pid, SIGTERM)
        waitpid(pid, nil, 0)
        try? FileManager.default.removeItem(atPath: config)
    }
}

/// Custom figures, per watched process per sweep (Vigil) or scrape (process-exporter).
let cpuPerProcess = BenchmarkMetric.custom("CPU ns per watched process", polarity: .prefersSmaller, useScalingFactor: false)
let residentMemory = BenchmarkMetric.custom("resident bytes of the sampling process", polarity: .prefersSmaller, useScalingFactor: false)

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

    // The peer comparison: the same 200 sleepers, four cmdline patterns, Vigil's sweep beside
    // process-exporter's scrape. Both figures are CPU per watched process per sweep (scrape).
    let peerConfiguration = Benchmark.Configuration(
        metrics: [.wallClock, .cpuTotal, cpuPerProcess, residentMemory], maxDuration: .seconds(10), maxIterations: 5)
    let fleet = Locked<Sleepers?>(nil)
    Benchmark("cmdline sweep of 200 watched processes, Vigil", configuration: peerConfiguration) { (benchmark: Benchmark, sampler: ResourceSampler) in
        let sweeps = 20
        let before = ownCPUNanoseconds()
        for _ in 0..<sweeps { blackHole(sampler.sampleNow()) }
        let spent = ownCPUNanoseconds() - before
        benchmark.measurement(cpuPerProcess, spent / sweeps / Fleet.size)
        benchmark.measurement(residentMemory, residentBytes(of: getpid()))
    } setup: {
        fleet.set(try Sleepers(Fleet.size, argv0: Fleet.argv0))
        let plugins = try Fleet.groups.map { PluginResources(name: $0, matchers: [try ProcessMatcher(.commandLine(Fleet.pattern($0)))]) }
        let sampler = try ResourceSampler(plugins: plugins, registry: Registry())
        guard sampler.sampleNow().values.map(\.processes) == [50, 50, 50, 50] else { throw NSError(domain: "the patterns missed the fleet", code: 3) }
        return sampler
    } teardown: {
        fleet.take()?.stop()
    }

    let peerFleet = Locked<Sleepers?>(nil)
    let peer = Locked<ProcessExporter?>(nil)
    Benchmark("cmdline scrape of 200 watched processes, process-exporter", configuration: peerConfiguration) { (benchmark: Benchmark, exporter: ProcessExporter) in
        let scrapes = 20
        let before = cpuNanoseconds(of: exporter.pid)
        for _ in 0..<scrapes { blackHole(exporter.scrape()) }
        let spent = cpuNanoseconds(of: exporter.pid) - before
        benchmark.measurement(cpuPerProcess, spent / scrapes / Fleet.size)
        benchmark.measurement(residentMemory, residentBytes(of: exporter.pid))
    } setup: {
        peerFleet.set(try Sleepers(Fleet.size, argv0: Fleet.argv0))
        let exporter = try ProcessExporter()
        peer.set(exporter)
        return exporter
    } teardown: {
        peer.take()?.stop()
        peerFleet.take()?.stop()
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
