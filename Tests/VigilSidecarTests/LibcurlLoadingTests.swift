import Foundation
import Vigil
import VigilTestSupport
import XCTest

/// `vigil serve` loads libcurl (dlopen) only for a push target: idle, it maps neither libcurl nor
/// the TLS libraries libcurl brings (about 5 MB resident); with a Pushgateway configured, its
/// first push loads libcurl.
final class LibcurlLoadingTests: XCTestCase {
    var child: VigilServeProcess?
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-libcurl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() {
        child?.stop()
        child = nil
        try? FileManager.default.removeItem(at: folder)
    }

    /// The files the child maps whose name starts with libcurl.
    func libcurlMapped(_ child: VigilServeProcess) throws -> [String] {
        // Read to the end: /proc files have a size of 0, which String(contentsOfFile:) believes.
        let path = "/proc/\(child.process.processIdentifier)/maps"
        guard let file = FileHandle(forReadingAtPath: path) else { throw HarnessError("cannot open \(path)") }
        defer { try? file.close() }
        let maps = String(decoding: file.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(maps.contains("vigil"), "\(path) does not list the vigil binary:\n\(maps)")
        let files = maps.split(separator: "\n").compactMap { $0.split(separator: " ", omittingEmptySubsequences: true).last.map(String.init) }
        return Array(Set(files.filter { ($0.split(separator: "/").last ?? "").hasPrefix("libcurl") })).sorted()
    }

    func serve(_ yaml: String) async throws -> VigilServeProcess {
        let config = folder.appendingPathComponent("vigil.yml").path
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        let child = try await VigilServeProcess(config: config, logPath: folder.appendingPathComponent("log").path)
        self.child = child
        return child
    }

    func testAnIdleSidecarDoesNotMapLibcurl() async throws {
        let child = try await serve("""
            listen: 127.0.0.1:0
            sampling_interval: 100ms
            plugins:
              - name: itself
                match: [{self: true}]
            """)
        try await waitUntil("/-/ready to answer 200 once the plugins are sampled") { try await child.request("GET", "/-/ready").status == 200 }
        _ = try await child.scrape()
        XCTAssertEqual(try libcurlMapped(child), [], "an idle vigil serve (no push target) mapped libcurl")
    }

    func testAPushgatewayTargetLoadsLibcurl() async throws {
        let gateway = try SilentListener()
        let job = "libcurl-loading-\(getpid())"
        let child = try await serve("""
            listen: 127.0.0.1:0
            sampling_interval: 100ms
            plugins:
              - name: itself
                match: [{self: true}]
            pushgateway:
              url: http://127.0.0.1:\(gateway.port)
              job: \(job)
              interval: 1h
            """)
        // This child's push (its job in the request line), sent by libcurl (its version in the User-Agent).
        try await waitUntil(timeout: .seconds(30), "a push reaching the silent Pushgateway") {
            gateway.pump()
            return gateway.text.contains("PUT /metrics/job/\(job) ") && gateway.text.contains("User-Agent: vigil/\(VigilVersion.current) libcurl/")
        }
        XCTAssertFalse(try libcurlMapped(child).isEmpty, "vigil serve pushed without mapping libcurl: what sent the push?")
    }
}
