import Foundation
import Vigil
import VigilTestSupport
import XCTest

/// A real `vigil serve` child process, built by `swift build` (`make test` builds it before the
/// tests), on a loopback port it picks itself; its log goes to a file the test reads.
final class VigilServeProcess {
    /// The repository root, found from this file's place in it.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binary = root.appendingPathComponent(".build/debug/vigil")

    let process = Process()
    let logPath: String
    private(set) var port = 0
    let http = HTTPClient(maximumBodyBytes: 16 << 20)

    /// Starts `vigil serve --config config` with `arguments` after it, and waits until it listens.
    /// Skips the test when the binary has not been built.
    init(config: String, arguments: [String] = [], logPath: String) async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else {
            throw XCTSkip("\(Self.binary.path) is missing: build it with `swift build --product vigil` (make test does)")
        }
        self.logPath = logPath
        guard FileManager.default.createFile(atPath: logPath, contents: nil), let log = FileHandle(forWritingAtPath: logPath) else {
            throw HarnessError("cannot create the log file \(logPath)")
        }
        process.executableURL = Self.binary
        process.arguments = ["serve", "--config", config] + arguments
        // Only the file counts: variables that override it would make the test about the environment.
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("VIGIL_") && !$0.key.hasPrefix("OTEL_") }
        process.standardOutput = log
        process.standardError = log
        try process.run()
        try await waitUntil(timeout: .seconds(20), "vigil serve to log the address it listens on") {
            guard process.isRunning else { throw HarnessError("vigil serve exited with \(process.terminationStatus):\n\(self.log)") }
            guard let port = Self.port(in: self.log) else { return false }
            self.port = port
            return true
        }
    }

    /// Everything the child has logged so far.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The port of the `serving metrics` line: `address=http://127.0.0.1:PORT/metrics`.
    static func port(in log: String) -> Int? {
        guard let line = log.split(separator: "\n").first(where: { $0.contains("serving metrics") }),
              let start = line.range(of: "address=http://127.0.0.1:")?.upperBound else { return nil }
        return Int(line[start...].prefix { $0.isNumber })
    }

    /// Sends `signal` to the child.
    func send(signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// `method path` on the child's server.
    func request(_ method: String, _ path: String) async throws -> HTTPResponse {
        try await http.send(HTTPRequest(method: method, url: "http://127.0.0.1:\(port)\(path)", timeout: .seconds(5)))
    }

    /// The samples of a scrape of /metrics.
    func scrape() async throws -> [String: Double] {
        let response = try await request("GET", "/metrics")
        guard response.status == 200 else { throw HarnessError("GET /metrics answered \(response.status)") }
        return exposedSamples(response.body)
    }

    /// SIGTERM, then SIGKILL if the child has not exited within five seconds.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        if (try? blockUntil(timeout: .seconds(5), "vigil serve to exit on SIGTERM", { !process.isRunning })) == nil {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}
