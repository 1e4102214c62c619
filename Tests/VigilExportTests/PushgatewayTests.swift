import Foundation
import VigilMetrics
import VigilSupport
import VigilTestSupport
import XCTest
@testable import VigilExport

/// A real Pushgateway (Debian's prometheus-pushgateway) on a loopback port for one test.
final class RealPushgateway {
    let process = Process()
    let port: Int
    private let webConfig: URL?

    /// - Parameter webConfig: the Prometheus exporter-toolkit web configuration
    ///   (`--web.config.file`: `tls_server_config`, `basic_auth_users`); with `tls_server_config`
    ///   the gateway serves HTTPS only.
    init(webConfig: String? = nil) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus-pushgateway") else {
            throw XCTSkip("prometheus-pushgateway is not installed: run `make test` (scripts/setup installs it)")
        }
        port = try FreePort.find()
        let tls = webConfig?.contains("tls_server_config") == true
        url = "\(tls ? "https" : "http")://127.0.0.1:\(port)"
        // No persistence: Debian's default file (/var/lib/prometheus/pushgateway.data) is shared by
        // every Pushgateway on the machine, and would hand this one the groups another left there.
        var arguments = ["--web.listen-address=127.0.0.1:\(port)", "--persistence.file=", "--log.level=warn"]
        if let webConfig {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-pushgateway-web-\(UUID()).yml")
            try webConfig.write(to: file, atomically: true, encoding: .utf8)
            arguments.append("--web.config.file=\(file.path)")
            self.webConfig = file
        } else {
            self.webConfig = nil
        }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus-pushgateway")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try blockUntil("the Pushgateway on port \(port) to be ready") {
            // Over HTTPS a plain-text request gets Go's "400 Bad Request": enough to know it serves.
            let answer = (try? RawSocket.exchange(port: port, "GET /-/ready HTTP/1.0\r\n\r\n")) ?? ""
            return answer.hasPrefix(tls ? "HTTP/1.0 400" : "HTTP/1.0 200")
        }
    }

    /// `http://127.0.0.1:<port>`, or `https://` when the web configuration enables TLS.
    let url: String

    func stop() {
        if let webConfig { try? FileManager.default.removeItem(at: webConfig) }
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        try? blockUntil(timeout: .seconds(1), "the Pushgateway to exit") { !process.isRunning }
    }

    deinit { stop() }
}

enum FreePort {
    /// A port the kernel just handed out and freed: free for the next moment.
    static func find() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(fd, pointer, length) == 0 else { return -1 }
                return getsockname(fd, pointer, &length)
            }
        }
        guard bound == 0 else { throw NSError(domain: "port", code: Int(errno)) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

final class PushgatewayTests: XCTestCase {
    func testPushReadBackAndDeleteAgainstARealPushgateway() async throws {
        let gateway = try RealPushgateway()
        let registry = Registry()
        try registry.counter("batch_items_total", help: "Items a batch job handled.", labelNames: ["kind"]).labels("image").inc(by: 42)
        try registry.gauge("batch_last_success_seconds", help: "When the job last succeeded.").set(1_700_000_000)
        let client = PushgatewayClient(
            configuration: .init(url: gateway.url, job: "nightly/import", grouping: [("instance", ""), ("shard", "3")]), registry: registry)
        XCTAssertEqual(client.groupingURL, gateway.url + "/metrics/job@base64/bmlnaHRseS9pbXBvcnQ/instance@base64/=/shard/3")
        guard case .success = await client.push(.put) else { return XCTFail("push failed") }

        let scraped = String(decoding: try await HTTPClient(maximumBodyBytes: 1 << 20).send(HTTPRequest(method: "GET", url: gateway.url + "/metrics")).body, as: UTF8.self)
        let line = scraped.split(separator: "\n").first { $0.hasPrefix("batch_items_total{") }
        XCTAssertNotNil(line, scraped)
        XCTAssertTrue(line?.contains("job=\"nightly/import\"") == true, String(line ?? ""))
        XCTAssertTrue(line?.contains("shard=\"3\"") == true)
        XCTAssertTrue(line?.contains("kind=\"image\"") == true)
        XCTAssertTrue(line?.hasSuffix(" 42") == true)

        guard case .success = await client.push(.delete) else { return XCTFail("delete failed") }
        let after = String(decoding: try await HTTPClient(maximumBodyBytes: 1 << 20).send(HTTPRequest(method: "GET", url: gateway.url + "/metrics")).body, as: UTF8.self)
        XCTAssertFalse(after.contains("batch_items_total{"), after)
        XCTAssertTrue(registry.renderString().contains("vigil_push_total{target=\"pushgateway\",result=\"success\"} 2\n"))
    }

    func testAClientErrorIsReportedAndNotRetried() async throws {
        let gateway = try RealPushgateway()
        let registry = Registry()
        try registry.gauge("g", help: "G.").set(1)
        // The Pushgateway refuses a grouping label whose name is not a valid label name.
        let client = PushgatewayClient(configuration: .init(url: gateway.url, job: "j", grouping: [("bad-name", "x")]), registry: registry)
        guard case .failure(let error) = await client.push(.put) else { return XCTFail("expected a refusal") }
        XCTAssertTrue(error.description.contains("HTTP 400"), error.description)
        XCTAssertTrue(error.description.contains("not retried"), error.description)
        XCTAssertEqual(error.attempts, 1)
        XCTAssertTrue(registry.renderString().contains("vigil_push_total{target=\"pushgateway\",result=\"failure\"} 1\n"))
    }

    func testAnUnreachableGatewayIsRetriedThenReportedWithMethodURLAndAttempts() async throws {
        let port = try FreePort.find()  // nothing listens there
        let registry = Registry()
        var configuration = PushgatewayClient.Configuration(url: "http://127.0.0.1:\(port)", job: "j")
        configuration.retry.maxAttempts = 2
        configuration.retry.initialBackoff = .milliseconds(10)
        let client = PushgatewayClient(configuration: configuration, registry: registry)
        guard case .failure(let error) = await client.push(.put) else { return XCTFail("pushed to nothing") }
        XCTAssertEqual(error.attempts, 2)
        XCTAssertTrue(error.description.hasPrefix("PUT http://127.0.0.1:\(port)/metrics/job/j: "), error.description)
        XCTAssertTrue(error.description.contains("(curl error 7); gave up"), error.description)
        XCTAssertTrue(error.description.hasSuffix("(2 attempts)"), error.description)
        XCTAssertTrue(registry.renderString().contains("vigil_push_total{target=\"pushgateway\",result=\"failure\"} 1\n"))
    }

    /// A Pushgateway that serves HTTPS only, requires a client certificate signed by the test's CA
    /// and basic authentication as `pusher` with `password`.
    static func guardedGateway(_ certificates: TestCertificates) throws -> RealPushgateway {
        try RealPushgateway(webConfig: """
            tls_server_config:
              cert_file: \(certificates.serverCertificate)
              key_file: \(certificates.serverKey)
              client_auth_type: RequireAndVerifyClientCert
              client_ca_file: \(certificates.caFile)
            basic_auth_users:
              pusher: \(passwordBcrypt)
            """)
    }

    static let password = "vigil-test-password"
    /// bcrypt of `password` (cost 4), which the gateway's web configuration asks for.
    static let passwordBcrypt = "$2b$04$Tx5FAYByOfmWAhyjb1ldz.A8eDCfzsWwJ3nnesJWgQwpgGuJZA8ra"

    func testPushOverTLSWithAClientCertificateAndBasicAuthReachesAGuardedPushgateway() async throws {
        let certificates = try TestCertificates()
        let gateway = try Self.guardedGateway(certificates)
        let registry = Registry()
        try registry.gauge("guarded_value", help: "Pushed over TLS.").set(7)
        let tls = TLSClientConfiguration(caFile: certificates.caFile, certFile: certificates.clientCertificate, keyFile: certificates.clientKey)
        var configuration = PushgatewayClient.Configuration(url: gateway.url, job: "tls", auth: .basic(username: "pusher", password: Self.password))
        configuration.tls = tls
        let client = PushgatewayClient(configuration: configuration, registry: registry)
        let result = await client.push(.put)
        guard case .success = result else { return XCTFail("\(result)") }

        let auth = PushAuthentication.basic(username: "pusher", password: Self.password).headerValue
        let scraped = try await HTTPClient(maximumBodyBytes: 1 << 20).send(HTTPRequest(method: "GET", url: gateway.url + "/metrics", headers: [("Authorization", auth)], tls: tls))
        XCTAssertTrue(String(decoding: scraped.body, as: UTF8.self).contains("guarded_value{instance=\"\",job=\"tls\"} 7"))

        configuration.auth = .basic(username: "pusher", password: "wrong")
        guard case .failure(let refused) = await PushgatewayClient(configuration: configuration, registry: registry).push(.put) else { return XCTFail("pushed with a wrong password") }
        XCTAssertTrue(refused.description.contains("HTTP 401"), refused.description)
        XCTAssertFalse(refused.description.contains("wrong"), "no password in the error: \(refused.description)")
    }

    func testAPushgatewayWhoseCAIsUnknownFailsAtOnceClearlyAndIsCounted() async throws {
        let certificates = try TestCertificates()
        let gateway = try Self.guardedGateway(certificates)
        let registry = Registry()
        var configuration = PushgatewayClient.Configuration(url: gateway.url, job: "tls", auth: .basic(username: "pusher", password: Self.password))
        configuration.tls = TLSClientConfiguration(certFile: certificates.clientCertificate, keyFile: certificates.clientKey)
        configuration.retry.initialBackoff = .milliseconds(10)
        guard case .failure(let error) = await PushgatewayClient(configuration: configuration, registry: registry).push(.put) else {
            return XCTFail("pushed to a gateway nobody vouches for")
        }
        XCTAssertTrue(error.description.hasPrefix("PUT \(gateway.url)/metrics/job/tls: SSL certificate problem: "), error.description)
        XCTAssertTrue(error.description.contains("(curl error 60); not retried"), error.description)
        XCTAssertEqual(error.attempts, 1)
        XCTAssertTrue(registry.renderString().contains("vigil_push_total{target=\"pushgateway\",result=\"failure\"} 1\n"))
    }

    func testRunPushesOnceMoreAfterItsTaskIsCancelled() async throws {
        let gateway = try RealPushgateway()
        let registry = Registry()
        let gauge = try registry.gauge("stage", help: "The job's stage.")
        gauge.set(1)
        let client = PushgatewayClient(configuration: .init(url: gateway.url, job: "short"), registry: registry)
        let running = Task { await client.run(every: .seconds(3600)) }
        let scraper = HTTPClient(maximumBodyBytes: 1 << 20)
        func pushed() async throws -> String {
            String(decoding: try await scraper.send(HTTPRequest(method: "GET", url: gateway.url + "/metrics")).body, as: UTF8.self)
        }
        try await waitUntil("the first push") { try await pushed().contains("stage{instance=\"\",job=\"short\"} 1\n") }
        gauge.set(2)
        running.cancel()
        await running.value
        let last = try await pushed()
        XCTAssertTrue(last.contains("stage{instance=\"\",job=\"short\"} 2\n"), "the last values were pushed: \(last)")
    }

    func testTheLastPushIsAbandonedAfterItsTimeoutWhenTheGatewayHangs() async throws {
        let listener = try SilentListener()
        let registry = Registry()
        var configuration = PushgatewayClient.Configuration(url: "http://127.0.0.1:\(listener.port)", job: "j")
        configuration.timeout = .seconds(60)
        let client = PushgatewayClient(configuration: configuration, registry: registry)
        let failures = Locked<[String]>([])
        let running = Task {
            await client.run(every: .seconds(3600), finalPushTimeout: .milliseconds(200)) { error in failures.withLock { $0.append(error.description) } }
        }
        try await waitUntil("the first push to reach the hung gateway") {
            listener.pump()
            return listener.accepted == 1 && listener.text.contains("\r\n\r\n")
        }
        running.cancel()
        let ended = Locked(false)
        Task { await running.value; ended.withLock { $0 = true } }
        try await waitUntil(timeout: .seconds(5), "run to end although the gateway never answers") { ended.withLock { $0 } }
        let said = failures.withLock { $0 }
        XCTAssertEqual(said.count, 2, "\(said)")
        XCTAssertTrue(said.allSatisfy { $0.hasSuffix(": cancelled during the attempt; the transfer was abandoned (1 attempt)") }, "\(said)")
        XCTAssertTrue(registry.renderString().contains("vigil_push_total{target=\"pushgateway\",result=\"failure\"} 2\n"))
    }

    func testSegmentsUseBase64OnlyWhenNeeded() {
        XCTAssertEqual(PushgatewayClient.segment("plain-1.x_y~", name: "a", valuePrefix: "/"), "/plain-1.x_y~")
        XCTAssertEqual(PushgatewayClient.segment("a/b", name: "a", valuePrefix: "/"), "@base64/YS9i")
        XCTAssertEqual(PushgatewayClient.segment("", name: "a", valuePrefix: "/"), "@base64/=")
    }
}
