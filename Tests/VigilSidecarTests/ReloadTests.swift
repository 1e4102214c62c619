import Foundation
import Logging
import Vigil
import VigilSidecar
import VigilTestSupport
import XCTest

/// Reloading the configuration file while the sidecar runs: by SIGHUP and by `POST /-/reload`
/// to a real `vigil serve` child, and through the lifecycle endpoint of a sidecar run in this
/// process. Plugins are added, removed and changed in place; a bad file changes nothing.
final class ReloadTests: XCTestCase {
    var fixture: ReloadFixture!
    var child: VigilServeProcess?
    let http = HTTPClient(maximumBodyBytes: 16 << 20)

    override func setUpWithError() throws {
        fixture = try ReloadFixture()
    }

    override func tearDown() {
        child?.stop()
        child = nil
        fixture?.remove()
    }

    // MARK: A `vigil serve` child

    /// `vigil serve` on the first file, once it has sampled it, and that sample.
    func startChild(arguments: [String] = []) async throws -> (VigilServeProcess, [String: Double]) {
        try fixture.write(ReloadFixture.first)
        let child = try await VigilServeProcess(config: fixture.configPath, arguments: arguments, logPath: fixture.logPath)
        self.child = child
        return (child, try await ReloadFixture.waitForFirstFile(child.scrape))
    }

    func testSIGHUPMakesVigilServeApplyTheNewFileAndLogWhatChanged() async throws {
        let (child, before) = try await startChild()

        try fixture.write(ReloadFixture.second)
        child.send(signal: SIGHUP)
        try await ReloadFixture.checkSecondFileApplied(after: before, child.scrape)
        try await waitUntil("the reload's outcome in the log") { child.log.contains("configuration reloaded") }
        let line = try XCTUnwrap(child.log.split(separator: "\n").first { $0.contains("configuration reloaded") })
        for part in ["added=coming", "removed=going", "changed=limited", "unchanged=1"] {
            XCTAssertTrue(line.contains(part), "\(part) in: \(line)")
        }
        XCTAssertTrue(child.process.isRunning, "SIGHUP reloads, it does not end vigil")
    }

    func testABrokenFileSentBySIGHUPKeepsThePluginsAndZeroesTheGaugeUntilAFixedOne() async throws {
        let (child, before) = try await startChild()
        let broken = ReloadFixture.first + [.broken]

        try fixture.write(broken)
        child.send(signal: SIGHUP)
        var samples: [String: Double] = [:]
        try await waitUntil("vigil_config_last_reload_successful 0 after the broken file") {
            samples = try await child.scrape()
            return samples[ReloadFixture.reloadSuccessful] == 0
        }
        let error = try fixture.brokenError(broken)
        let logged = child.log.split(separator: "\n").first { $0.contains(error) }
        XCTAssertNotNil(logged, "the log names file, line and key: \(error)\n\(child.log)")
        XCTAssertTrue(logged?.contains(" error ") == true, "logged at error level: \(logged ?? "")")
        XCTAssertEqual(samples[ReloadFixture.reloadTimestamp], before[ReloadFixture.reloadTimestamp], "the last success stays the start's")
        XCTAssertEqual(samples[#"vigil_plugin_processes{plugin="going"}"#], 1, "the running plugins stay")
        XCTAssertFalse(samples.keys.contains { $0.contains(#"plugin="broken""#) }, "nothing of the broken file applies")
        XCTAssertTrue(child.process.isRunning, "a bad file never ends vigil")

        try fixture.write(ReloadFixture.first + [.coming])
        child.send(signal: SIGHUP)
        try await waitUntil("vigil_config_last_reload_successful 1 after the fixed file, and its new plugin sampled") {
            samples = try await child.scrape()
            return samples[ReloadFixture.reloadSuccessful] == 1 && samples[#"vigil_plugin_processes{plugin="coming"}"#] == 1
        }
        XCTAssertGreaterThan(samples[ReloadFixture.reloadTimestamp] ?? 0, before[ReloadFixture.reloadTimestamp] ?? .infinity)
    }

    func testVigilServeWithTheLifecycleFlagReloadsOnPOSTAndAnswers500WithTheErrorForABrokenFile() async throws {
        let (child, before) = try await startChild(arguments: ["--web.enable-lifecycle"])

        try fixture.write(ReloadFixture.second)
        let reloaded = try await child.request("POST", "/-/reload")
        XCTAssertEqual(reloaded.status, 200, String(decoding: reloaded.body, as: UTF8.self))
        try await ReloadFixture.checkSecondFileApplied(after: before, child.scrape)

        let broken = ReloadFixture.second + [.broken]
        try fixture.write(broken)
        let refused = try await child.request("POST", "/-/reload")
        XCTAssertEqual(refused.status, 500)
        let said = String(decoding: refused.body, as: UTF8.self)
        XCTAssertTrue(said.hasPrefix("failed to reload config: \(try fixture.brokenError(broken))"), said)
        let after = try await child.scrape()
        XCTAssertEqual(after[ReloadFixture.reloadSuccessful], 0, "set before the answer")
    }

    func testVigilServeWithoutTheLifecycleFlagAnswersPOSTReloadWith403AndKeepsItsPlugins() async throws {
        let (child, _) = try await startChild()

        try fixture.write(ReloadFixture.second)
        let response = try await child.request("POST", "/-/reload")
        XCTAssertEqual(response.status, 403)
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "Lifecycle API is not enabled.\n")
        let samples = try await child.scrape()
        XCTAssertEqual(samples[#"vigil_plugin_processes{plugin="going"}"#], 1)
        XCTAssertNil(samples[#"vigil_plugin_processes{plugin="coming"}"#])
    }

    func testVigilServeHelpNamesTheLifecycleFlag() throws {
        guard FileManager.default.isExecutableFile(atPath: VigilServeProcess.binary.path) else {
            throw XCTSkip("\(VigilServeProcess.binary.path) is missing: build it with `swift build --product vigil` (make test does)")
        }
        let process = Process()
        process.executableURL = VigilServeProcess.binary
        process.arguments = ["serve", "--help"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let help = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertTrue(help.contains("--web.enable-lifecycle"), help)
        XCTAssertTrue(help.contains("SIGHUP"), help)
    }

    // MARK: A sidecar in this process

    /// A sidecar made from the fixture's file as it is now.
    func sidecar() throws -> Sidecar {
        let config = try SidecarConfig.load(path: fixture.configPath, environment: [:])
        return try Sidecar(config: config, configFile: fixture.configPath, environment: [:],
                           logger: Logger(label: "reload-tests", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// Runs a sidecar made from the first file, SIGHUP left alone, while `body` runs.
    func withSidecar(lifecycleAPI: Bool = true, _ body: (Sidecar, RunningServer) async throws -> Void) async throws {
        try fixture.write(ReloadFixture.first)
        let sidecar = try sidecar()
        try await withRunningServer({ try await sidecar.run(lifecycleAPI: lifecycleAPI, reloadOnSIGHUP: false, onListening: $0) }) { server in
            try await body(sidecar, server)
        }
    }

    func post(_ port: Int, _ path: String = "/-/reload", method: String = "POST") async throws -> (status: Int, body: String, allow: String?) {
        let response = try await http.send(HTTPRequest(method: method, url: "http://127.0.0.1:\(port)\(path)", timeout: .seconds(10)))
        return (response.status, String(decoding: response.body, as: UTF8.self), response.header("Allow"))
    }

    func testTheReloadGaugesAreSetAtStartup() async throws {
        let started = Date().timeIntervalSince1970
        try await withSidecar(lifecycleAPI: false) { _, server in
            let samples = try await server.scrape()
            XCTAssertEqual(samples[ReloadFixture.reloadSuccessful], 1)
            let timestamp = try XCTUnwrap(samples[ReloadFixture.reloadTimestamp])
            XCTAssertGreaterThanOrEqual(timestamp, started)
            XCTAssertLessThanOrEqual(timestamp, Date().timeIntervalSince1970)
        }
    }

    func testPOSTReloadAnswers200WithWhatChangedAndAppliesTheFile() async throws {
        try await withSidecar { sidecar, server in
            let before = try await ReloadFixture.waitForFirstFile(server.scrape)
            try fixture.write(ReloadFixture.second)
            let response = try await post(server.port)
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.body, "reloaded: plugins added: coming; removed: going; changed: limited; unchanged: 1\n")
            try await ReloadFixture.checkSecondFileApplied(after: before, server.scrape)
            XCTAssertEqual(sidecar.sampler.plugins.map(\.name), ["keep", "limited", "coming"])
            XCTAssertEqual(sidecar.config.plugins.map(\.name), ["keep", "going", "limited"], "config stays what the sidecar started with")
        }
    }

    func testABrokenFileAnswers500WithFileAndLineAndKeepsTheRunningPlugins() async throws {
        try await withSidecar { sidecar, server in
            let before = try await ReloadFixture.waitForFirstFile(server.scrape)
            let broken = ReloadFixture.second + [.broken]
            try fixture.write(broken)
            let response = try await post(server.port)
            XCTAssertEqual(response.status, 500)
            XCTAssertTrue(response.body.hasPrefix("failed to reload config: \(try fixture.brokenError(broken))"), response.body)
            XCTAssertEqual(sidecar.sampler.plugins.map(\.name), ["keep", "going", "limited"])
            let samples = try await server.scrape()
            XCTAssertEqual(samples[ReloadFixture.reloadSuccessful], 0)
            XCTAssertEqual(samples[ReloadFixture.reloadTimestamp], before[ReloadFixture.reloadTimestamp])

            try FileManager.default.removeItem(atPath: fixture.configPath)
            let missing = try await post(server.port)
            XCTAssertEqual(missing.status, 500)
            XCTAssertTrue(missing.body.hasPrefix("failed to reload config: \(fixture.configPath): cannot read the file"), missing.body)

            try fixture.write(ReloadFixture.first)
            let fixed = try await post(server.port)
            XCTAssertEqual(fixed.status, 200, fixed.body)
            XCTAssertEqual(fixed.body, "reloaded: plugins added: none; removed: none; changed: none; unchanged: 3\n")
            let after = try await server.scrape()
            XCTAssertEqual(after[ReloadFixture.reloadSuccessful], 1)
        }
    }

    func testWithoutTheLifecycleAPIPOSTReloadIs403AndGETIs405EitherWay() async throws {
        for lifecycleAPI in [false, true] {
            try await withSidecar(lifecycleAPI: lifecycleAPI) { _, server in
                let get = try await post(server.port, method: "GET")
                XCTAssertEqual(get.status, 405)
                XCTAssertEqual(get.body, "Only POST or PUT requests allowed\n")
                XCTAssertEqual(get.allow, "POST, PUT")
                guard !lifecycleAPI else {
                    let put = try await post(server.port, method: "PUT")
                    XCTAssertEqual(put.status, 200, "PUT reloads too, as in Prometheus")
                    return
                }
                let forbidden = try await post(server.port)
                XCTAssertEqual(forbidden.status, 403)
                XCTAssertEqual(forbidden.body, "Lifecycle API is not enabled.\n")
                let scrape = try await post(server.port, "/metrics")
                XCTAssertEqual(scrape.status, 405, "other paths still take only GET and HEAD")
            }
        }
    }

    func testSettingsOnlyARestartAppliesAreNamedAndKeepTheirRunningValues() async throws {
        try await withSidecar { sidecar, server in
            try fixture.write(ReloadFixture.first, extra: """
                metrics_path: /other
                service_name: renamed
                pushgateway:
                  url: http://127.0.0.1:9091

                """)
            guard case .reloaded(let plugins, let needsRestart) = await sidecar.reload() else { return XCTFail("the file is good") }
            XCTAssertEqual(plugins.unchanged, ["keep", "going", "limited"])
            XCTAssertEqual(needsRestart, ["metrics_path", "service_name", "pushgateway"])
            let response = try await post(server.port)
            XCTAssertEqual(response.status, 200)
            XCTAssertTrue(response.body.hasSuffix("; changed but kept until restart: metrics_path, service_name, pushgateway\n"), response.body)
            let samples = try await server.scrape()
            XCTAssertEqual(samples[ReloadFixture.reloadSuccessful], 1, "the file is good: what can apply did")
            XCTAssertNil(samples[#"vigil_push_total{target="pushgateway",result="failure"}"#], "no pusher started")
        }
    }

    func testReloadsAskedForAtOnceApplyTheChangesExactlyOnce() async throws {
        try fixture.write(ReloadFixture.first)
        let sidecar = try sidecar()
        try fixture.write(ReloadFixture.second)
        let outcomes = await withTaskGroup(of: ReloadOutcome.self) { group in
            for _ in 0..<8 { group.addTask { await sidecar.reload() } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let first = "reloaded: plugins added: coming; removed: going; changed: limited; unchanged: 1"
        let again = "reloaded: plugins added: none; removed: none; changed: none; unchanged: 3"
        XCTAssertEqual(outcomes.filter { "\($0)" == first }.count, 1, "one reload found the changes: \(outcomes)")
        XCTAssertEqual(outcomes.filter { "\($0)" == again }.count, 7, "the others found them applied: \(outcomes)")
    }

    func testASidecarWithoutAConfigurationFileHasNothingToReload() async throws {
        let sidecar = try Sidecar(config: SidecarConfig(), logger: Logger(label: "reload-tests", factory: { _ in SwiftLogNoOpLogHandler() }))
        guard case .failed(let reason) = await sidecar.reload() else { return XCTFail("reloaded without a file") }
        XCTAssertTrue(reason.contains("without a configuration file"), reason)
    }
}
