import Foundation

/// A running `Helpers/workload.py` child; killed when released.
final class Workload {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    let token = "vigil-test-\(UUID().uuidString.prefix(8))"

    init(_ arguments: [String]) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Helpers/workload.py")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, token] + arguments
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        try expectLine("ready")
    }

    var pid: Int32 { process.processIdentifier }

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
