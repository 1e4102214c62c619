import Foundation
import VigilResources

/// A running `Helpers/workload.py` child; killed when released.
final class Workload {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    let token: String

    /// Starts the workload; `token` (unique by default) is its first argument, for command-line
    /// matchers: workers restarted with the same token match the same plugin.
    init(_ arguments: [String], token: String = Workload.newToken()) throws {
        self.token = token
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Helpers/workload.py")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, token] + arguments
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        try expectLine("ready")
    }

    var pid: Int32 { process.processIdentifier }

    static func newToken() -> String { "vigil-test-\(UUID().uuidString.prefix(8))" }

    /// Tells the child to exit with `code` and reaps it; returns how it ended, as Foundation saw it.
    func exit(code: Int32) -> ExitStatus {
        input.fileHandleForWriting.write("exit \(code)\n".data(using: .utf8)!)
        process.waitUntilExit()
        return process.terminationReason == .exit ? .exited(process.terminationStatus) : .signalled(process.terminationStatus)
    }

    /// Sends a command and waits for its acknowledgement.
    func send(_ command: String) throws {
        input.fileHandleForWriting.write((command + "\n").data(using: .utf8)!)
        try expectLine("ok")
    }

    /// The child's own CPU seconds, from times(2).
    func cpuSeconds() throws -> Double {
        input.fileHandleForWriting.write("cpu\n".data(using: .utf8)!)
        let line = try readLine()
        guard line.hasPrefix("ok "), let value = Double(line.dropFirst(3)) else { throw WorkloadError.unexpected(line) }
        return value
    }

    /// The pids of the children it forked (`children N`).
    func childPIDs() throws -> [Int32] {
        input.fileHandleForWriting.write("children\n".data(using: .utf8)!)
        let line = try readLine()
        guard line.hasPrefix("ok") else { throw WorkloadError.unexpected(line) }
        return line.dropFirst(2).split(separator: " ").compactMap { Int32($0) }
    }

    private func expectLine(_ expected: String) throws {
        let text = try readLine()
        guard text == expected else { throw WorkloadError.unexpected(text) }
    }

    private func readLine() throws -> String {
        var line = Data()
        while true {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty { throw WorkloadError.exited(String(decoding: line, as: UTF8.self)) }
            if byte == Data([0x0A]) { break }
            line.append(byte)
        }
        return String(decoding: line, as: UTF8.self)
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    deinit { stop() }

    enum WorkloadError: Error { case exited(String), unexpected(String) }
}

/// What `ps` says about a process: the independent truth the tests compare against.
func ps(_ pid: Int32, _ field: String) throws -> Double {
    let ps = Process()
    let out = Pipe()
    ps.executableURL = URL(fileURLWithPath: "/bin/ps")
    ps.arguments = ["-o", "\(field)=", "-p", String(pid)]
    ps.standardOutput = out
    try ps.run()
    ps.waitUntilExit()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    guard let value = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
        throw NSError(domain: "ps", code: 1, userInfo: [NSLocalizedDescriptionKey: "ps -o \(field) -p \(pid) said \(text)"])
    }
    return value
}

/// The CPU seconds, user and system, that `/proc/<path>/stat` reports (a process `"<pid>"` or a
/// thread `"<pid>/task/<tid>"`), parsed here apart from the sampler's parser.
func procCPUSeconds(_ path: String) throws -> Double {
    let text = try String(contentsOfFile: "/proc/\(path)/stat", encoding: .utf8)
    // proc(5): the command name ends at the last ")"; utime and stime are fields 14 and 15, the
    // 12th and 13th after the name.
    let fields = text[(text.lastIndex(of: ")") ?? text.startIndex)...].split(separator: " ").dropFirst()
    guard fields.count > 12, let user = Double(fields[fields.startIndex + 11]), let system = Double(fields[fields.startIndex + 12]) else {
        throw NSError(domain: "proc", code: 1, userInfo: [NSLocalizedDescriptionKey: "/proc/\(path)/stat is not a stat line: \(text)"])
    }
    return (user + system) / clockTicksPerSecond
}

/// /proc counts CPU time in these ticks, user and system apart, each rounded down: two readings
/// of one process may differ from the time it really ran by up to two ticks.
let clockTicksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

/// The CPU seconds the calling thread has run, from its own clock.
func threadCPUSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Seconds on CLOCK_MONOTONIC, the clock the sampler times its samples with.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
