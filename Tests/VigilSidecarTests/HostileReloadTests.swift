import Foundation
import Vigil
import VigilTestSupport
import XCTest

/// A reload cannot kill the sidecar: a real `vigil serve` given each file of the hostile corpus
/// (scripts/fuzz/corpus) by `POST /-/reload` and by SIGHUP keeps running, keeps serving /metrics
/// with the plugins it had, and says `vigil_config_last_reload_successful 0`; `vigil check`
/// refuses each file with exit status 2 and the reason, never a signal.
final class HostileReloadTests: XCTestCase {
    var fixture: ReloadFixture!
    var child: VigilServeProcess?

    override func setUpWithError() throws {
        fixture = try ReloadFixture()
    }

    override func tearDown() {
        child?.stop()
        child = nil
        fixture?.remove()
    }

    func startChild() async throws -> VigilServeProcess {
        try fixture.write(ReloadFixture.first)
        let child = try await VigilServeProcess(config: fixture.configPath, arguments: ["--web.enable-lifecycle"], logPath: fixture.logPath)
        self.child = child
        _ = try await ReloadFixture.waitForFirstFile(child.scrape)
        return child
    }

    /// Replaces the running file with the corpus file at `path`.
    func install(_ path: String) throws {
        let target = URL(fileURLWithPath: fixture.configPath)
        try? FileManager.default.removeItem(at: target)
        try FileManager.default.copyItem(at: URL(fileURLWithPath: path), to: target)
    }

    /// The sidecar is alive, serves /metrics, says the last reload failed and still samples the
    /// first file's plugins.
    func checkStillServingTheFirstFile(_ child: VigilServeProcess, after what: String) async throws {
        XCTAssertTrue(child.process.isRunning, "vigil serve ended after \(what):\n\(child.log.suffix(2000))")
        let samples = try await child.scrape()
        XCTAssertEqual(samples[ReloadFixture.reloadSuccessful], 0, what)
        XCTAssertEqual(samples[#"vigil_plugin_processes{plugin="going"}"#], 1, "the old configuration keeps working after \(what)")
    }

    func testEveryCorpusFileReloadedByPOSTIsRefusedAndTheSidecarServesOnWithTheGaugeAtZero() async throws {
        let child = try await startChild()
        for path in try HostileConfigs.paths() {
            try install(path)
            let answer = try await child.request("POST", "/-/reload")
            let said = String(decoding: answer.body, as: UTF8.self)
            XCTAssertEqual(answer.status, 500, "\(path): \(said.prefix(300))")
            XCTAssertTrue(said.hasPrefix("failed to reload config: \(fixture.configPath)"), "\(path): \(said.prefix(300))")
            try await checkStillServingTheFirstFile(child, after: (path as NSString).lastPathComponent)
        }
    }

    func testSIGHUPWithA1e300sDurationOrFiftyThousandDeepNestingLeavesTheSidecarServing() async throws {
        let child = try await startChild()
        for name in ["for-1e300s.yml", "shutdown-grace-1e300s.yml", "sampling-interval-0s.yml", "deep-flow-sequences.yml",
                     "deep-flow-mappings.yml", "deep-block-sequences.yml"] {
            // A good file first, so that the gauge is 1 and its fall to 0 is this reload's.
            try fixture.write(ReloadFixture.first)
            child.send(signal: SIGHUP)
            try await waitUntil("vigil_config_last_reload_successful 1 before \(name)") {
                try await child.scrape()[ReloadFixture.reloadSuccessful] == 1
            }
            try install(HostileConfigs.path(name))
            child.send(signal: SIGHUP)
            try await waitUntil("vigil_config_last_reload_successful 0 after \(name)") {
                guard child.process.isRunning else { throw HarnessError("vigil serve ended on \(name):\n\(child.log.suffix(2000))") }
                return try await child.scrape()[ReloadFixture.reloadSuccessful] == 0
            }
            try await checkStillServingTheFirstFile(child, after: name)
        }
        XCTAssertTrue(child.log.contains("\"1e300s\" is too long (at most 168h)"), child.log.suffix(2000).description)
        XCTAssertTrue(child.log.contains("nest deeper than 64 levels"), child.log.suffix(2000).description)
    }

    func testVigilCheckRefusesEveryCorpusFileWithExitStatusTwoAndTheReason() throws {
        guard FileManager.default.isExecutableFile(atPath: VigilServeProcess.binary.path) else {
            throw XCTSkip("\(VigilServeProcess.binary.path) is missing: build it with `swift build --product vigil` (make test does)")
        }
        for path in try HostileConfigs.paths() {
            let process = Process()
            process.executableURL = VigilServeProcess.binary
            process.arguments = ["check", path]
            process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("VIGIL_") && !$0.key.hasPrefix("OTEL_") }
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationReason, .exit, "\(path): killed by signal \(process.terminationStatus)\n\(said.prefix(2000))")
            XCTAssertEqual(process.terminationStatus, 2, "\(path): \(said.prefix(500))")
            XCTAssertTrue(said.contains(path + ":"), "\(path): the error names the file: \(said.prefix(500))")
        }
    }
}
