import Foundation
import VigilMetrics
import VigilTestSupport
import XCTest
@testable import VigilResources

/// A plugin's process exits and the kernel hands its pid to another process (forced here with
/// `ns_last_pid`, as root): the newcomer is not the plugin and never receives its signal.
final class PIDReuseTests: XCTestCase {
    var processes: [Process] = []

    override func tearDown() {
        for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
    }

    func sleeper() throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sleep")
        p.arguments = ["600"]
        try p.run()
        processes.append(p)
        return p
    }

    /// A new process under `pid`: `ns_last_pid` set to the one before, then a fork, until the
    /// kernel hands out that pid (another process of the machine may take it first).
    func sleeper(at pid: Int32) throws -> Process {
        for _ in 0..<200 {
            try "\(pid - 1)".write(toFile: "/proc/sys/kernel/ns_last_pid", atomically: false, encoding: .utf8)
            let p = try sleeper()
            if p.processIdentifier == pid { return p }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        throw HarnessError("could not start a process under pid \(pid) in 200 tries")
    }

    func testAReusedPIDIsNeverThePluginNorSignalled() throws {
        guard getuid() == 0, access("/proc/sys/kernel/ns_last_pid", W_OK) == 0 else {
            throw XCTSkip("needs root and a writable /proc/sys/kernel/ns_last_pid to choose the next pid")
        }
        let daemon = try sleeper()
        let pid = daemon.processIdentifier
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-\(UUID()).pid")
        defer { try? FileManager.default.removeItem(at: pidFile) }
        try "\(pid)\n".write(to: pidFile, atomically: true, encoding: .utf8)
        let registry = Registry()
        let policy = LimitPolicy(for: .milliseconds(200), action: .signal(SIGKILL))
        let owner = ProcessOwners(uids: [0])
        let s = try ResourceSampler(
            plugins: [
                PluginResources(name: "by-pid", matchers: [try ProcessMatcher(.pid(pid))], owners: owner,
                                limits: ResourceLimits(threads: 0), onLimit: policy),
                PluginResources(name: "by-file", matchers: [try ProcessMatcher(.pidFile(pidFile.path))], owners: owner,
                                limits: ResourceLimits(threads: 0), onLimit: policy),
            ], registry: registry)
        XCTAssertEqual(s.sampleNow()["by-pid"]?.processes, 1)
        XCTAssertEqual(s.usage["by-file"]?.processes, 1)
        // The daemon dies; its pid goes to a newcomer, over the same (zero-thread) limit.
        kill(pid, SIGKILL)
        daemon.waitUntilExit()
        let newcomer = try sleeper(at: pid)
        let since = monotonicSeconds()
        try blockUntil("the policy's 200 ms to pass") { monotonicSeconds() - since > 0.3 }
        s.sampleNow()
        s.sampleNow()
        XCTAssertTrue(newcomer.isRunning, "the process that reused the plugin's pid was killed")
        for plugin in ["by-pid", "by-file"] {
            XCTAssertEqual(s.usage[plugin]?.processes, 0, plugin)
            XCTAssertEqual(registry.sample("vigil_sample_errors_total{plugin=\"\(plugin)\",reason=\"pid_reused\"}"), 2, plugin)
            XCTAssertEqual(registry.sample(
                "vigil_plugin_limit_actions_total{plugin=\"\(plugin)\",resource=\"threads\",action=\"signal\"}"), 0, plugin)
        }
    }
}
