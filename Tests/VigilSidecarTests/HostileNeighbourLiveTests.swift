import Foundation
import Vigil
import VigilTestSupport
import XCTest

/// The real `vigil serve`, as root like the DaemonSet, beside processes another user chose:
/// a lookalike of a plugin that allocates past its limit, and hundreds of processes with
/// megabytes of arguments. Skipped unless run as root (`make test` in CI is).
final class HostileNeighbourLiveTests: XCTestCase {
    var children: [Process] = []
    /// Process groups started with `spawnGroup`, killed whole at the end.
    var groups: [pid_t] = []
    var folder: URL!

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root: it starts a lookalike as another user, as the DaemonSet's neighbours are") }
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-hostile-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() {
        for child in children where child.isRunning { kill(child.processIdentifier, SIGKILL); child.waitUntilExit() }
        children = []
        for group in groups {
            kill(-group, SIGKILL)
            var status: Int32 = 0
            waitpid(group, &status, 0)
        }
        groups = []
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    /// Starts `arguments` (the first is the program), its output discarded, with `environment`.
    @discardableResult
    func start(_ arguments: [String], environment: [String: String] = ["PATH": "/usr/bin:/bin"]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: arguments[0])
        p.arguments = Array(arguments.dropFirst())
        p.environment = environment
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        children.append(p)
        return p
    }

    /// Starts `argv` in a process group of its own (killed whole in `tearDown`), with no input
    /// or output, without Foundation's Process, whose reaping is too slow for hundreds.
    func spawnGroup(_ argv: [String]) throws {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let arguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        let environment: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer { (arguments + environment).forEach { free($0) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, argv[0], &actions, &attributes, arguments, environment)
        guard code == 0 else { throw HarnessError("posix_spawn \(argv[0]): \(String(cString: strerror(code)))") }
        groups.append(pid)
    }

    static func residentBytes(_ pid: Int32) -> UInt64? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = UInt64(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kb * 1024
    }

    /// Python that holds `mib` MiB resident and sleeps.
    static func holding(_ mib: Int) -> String {
        "b = bytearray(\(mib) << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\nimport time\ntime.sleep(600)"
    }

    func write(_ text: String, to name: String) throws -> String {
        let path = folder.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func vigilCheck(_ file: String) throws -> (status: Int32, said: String) {
        let check = try Command.run([VigilServeProcess.binary.path, "check", file])
        return (check.status, check.standardOutput + check.standardError)
    }

    /// The real plugin runs as root; a lookalike of `nobody` with the same command line holds
    /// 200 MiB against a 64 MiB limit with `signal: KILL` after 1 s. The real plugin is never
    /// signalled and the lookalike is not summed; then a root process of the plugin that goes
    /// over the limit is killed, so the policy was live all along.
    func testALookalikeOfAnotherUserNeverTurnsTheLimitActionAgainstTheRealPlugin() async throws {
        let token = "vigil-test-\(UUID().uuidString.prefix(8))"
        let arguments = ["transcode.py", "--worker", token]
        let plugin = """
            plugins:
              - name: transcoder
                match:
                  - cmdline: "transcode\\\\.py --worker \(token)"
                limits: {memory: 64MiB}
                on_limit: {action: signal, signal: KILL, for: 1s}

            """
        let unowned = try write("listen: 127.0.0.1:0\nsampling_interval: 200ms\n" + plugin, to: "unowned.yml")
        let (status, said) = try vigilCheck(unowned)
        XCTAssertEqual(status, 2, said)
        XCTAssertTrue(said.contains("add user: with the user that runs the plugin"), said)
        let config = try write("listen: 127.0.0.1:0\nsampling_interval: 200ms\n"
            + plugin.replacingOccurrences(of: "  - name: transcoder\n", with: "  - name: transcoder\n    user: root\n"), to: "vigil.yml")
        XCTAssertEqual(try vigilCheck(config).status, 0)

        let real = try start(["/usr/bin/python3", "-c", "import time\ntime.sleep(600)"] + arguments)
        let lookalike = try start(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                   "/usr/bin/python3", "-c", Self.holding(200)] + arguments)
        try await waitUntil(timeout: .seconds(20), "the lookalike to hold 200 MiB") { (Self.residentBytes(lookalike.processIdentifier) ?? 0) > 190 << 20 }
        let vigil = try await VigilServeProcess(config: config, logPath: folder.appendingPathComponent("log").path)
        defer { vigil.stop() }
        func value(_ series: String) async throws -> Double? { try await vigil.scrape()[series] }
        try await waitUntil("the lookalike to be seen as foreign") {
            try await value("vigil_plugin_foreign_processes{plugin=\"transcoder\"}") == 1
        }
        // Long past `for: 1s`, at five sweeps a second.
        let since = ContinuousClock.now
        try await waitUntil("3 s of sweeps") { ContinuousClock.now - since > .seconds(3) }
        let samples = try await vigil.scrape()
        XCTAssertTrue(real.isRunning, "the real plugin was signalled")
        XCTAssertTrue(lookalike.isRunning, "vigil signalled another user's process")
        XCTAssertEqual(samples["vigil_plugin_processes{plugin=\"transcoder\"}"], 1)
        XCTAssertLessThan(try XCTUnwrap(samples["vigil_plugin_resident_memory_bytes{plugin=\"transcoder\"}"]), Double(64 << 20))
        XCTAssertEqual(samples["vigil_plugin_limit_exceeded{plugin=\"transcoder\",resource=\"memory_bytes\"}"], 0)
        XCTAssertEqual(samples["vigil_plugin_limit_actions_total{plugin=\"transcoder\",resource=\"memory_bytes\",action=\"signal\"}"], 0)

        // The control: a root process of the plugin over the limit is killed, the lookalike still not.
        let hog = try start(["/usr/bin/python3", "-c", Self.holding(200)] + arguments)
        try await waitUntil(timeout: .seconds(30), "the plugin's own hog to be killed") { !hog.isRunning }
        XCTAssertEqual(hog.terminationReason, Process.TerminationReason.uncaughtSignal)
        XCTAssertEqual(hog.terminationStatus, SIGKILL)
        XCTAssertTrue(lookalike.isRunning, "vigil signalled another user's process")
        let actions = try await value("vigil_plugin_limit_actions_total{plugin=\"transcoder\",resource=\"memory_bytes\",action=\"signal\"}")
        XCTAssertEqual(actions, 1)
    }

    /// 500 processes of another user with 2 MiB of arguments each: the sidecar reads 32 KiB of
    /// each, its memory stays under 40 MiB, and its sweeps go on.
    func testFiveHundredNeighboursWithMegabytesOfArgumentsLeaveMemoryFlatAndSweepsGoing() async throws {
        // Room for 2 MiB of arguments (the kernel allows a quarter of the stack limit).
        var stack = rlimit()
        getrlimit(Int32(RLIMIT_STACK.rawValue), &stack)
        let saved = stack
        stack.rlim_cur = max(stack.rlim_cur, 32 << 20)
        if stack.rlim_max != rlim_t.max { stack.rlim_cur = min(stack.rlim_cur, stack.rlim_max) }
        XCTAssertEqual(setrlimit(Int32(RLIMIT_STACK.rawValue), &stack), 0)
        defer { var s = saved; setrlimit(Int32(RLIMIT_STACK.rawValue), &s) }
        let token = "vigil-test-\(UUID().uuidString.prefix(8))"
        let argument = String(repeating: "x", count: 127 * 1024)
        let padding = Array(repeating: argument, count: 17)  // 17 × 127 KiB: 2.1 MiB
        for _ in 0..<500 {
            try spawnGroup(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "/bin/sh", "-c", "sleep 600; :", token] + padding)
        }
        let config = try write("""
            listen: 127.0.0.1:0
            sampling_interval: 200ms
            plugins:
              - name: worker
                match:
                  - cmdline: "--plugin=worker-\(token)"
              - name: shells
                match:
                  - cmdline: "^/bin/sh -c sleep 600; : \(token) x"

            """, to: "vigil.yml")
        let vigil = try await VigilServeProcess(config: config, logPath: folder.appendingPathComponent("log").path)
        defer { vigil.stop() }
        var matched: Double?
        do {
            try await waitUntil(timeout: .seconds(30), "every neighbour to be matched") {
                matched = try await vigil.scrape()["vigil_plugin_processes{plugin=\"shells\"}"]
                return matched == 500
            }
        } catch {
            let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap { Int32($0) } ?? []
            let found = pids.filter { pid in
                (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")))?.range(of: Data(token.utf8)) != nil
            }
            XCTFail("\(matched.map { "\($0)" } ?? "no") processes matched of 500; \(found.count) with the token, such as "
                + "\(found.prefix(3).map { (try? String(contentsOfFile: "/proc/\($0)/cmdline", encoding: .utf8).prefix(80)) ?? "" }); "
                + "vigil said:\n\(vigil.log)\n\(try await vigil.scrape().filter { $0.key.contains("shells") })")
            throw error
        }
        let sweeps = try await vigil.scrape()["vigil_sampler_sweep_duration_seconds_count"]
        let first = try XCTUnwrap(sweeps)
        try await waitUntil(timeout: .seconds(30), "ten more sweeps") {
            try await vigil.scrape()["vigil_sampler_sweep_duration_seconds_count"] ?? 0 >= first + 10
        }
        let peak = try XCTUnwrap(Self.highWaterMark(vigil.process.processIdentifier))
        print("vigil serve beside 500 neighbours of 2.1 MiB command lines: resident memory peaked at \(peak >> 10) KiB")
        XCTAssertLessThan(peak, 40 << 20, "vigil's resident memory peaked at \(peak >> 20) MiB")
        let samples = try await vigil.scrape()
        XCTAssertEqual(samples["vigil_plugin_processes{plugin=\"worker\"}"], 0)
        XCTAssertEqual(samples["vigil_sample_errors_total{plugin=\"shells\",reason=\"parse_error\"}"], 0)
    }

    static func highWaterMark(_ pid: Int32) -> UInt64? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = UInt64(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kb * 1024
    }
}
