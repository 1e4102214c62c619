import Foundation
import Synchronization
import VigilMetrics
import VigilTestSupport
import XCTest
@testable import VigilExport

/// `MetricsServer` with a web config, scraped over loopback by the real `curl` and `openssl
/// s_client`, with certificates `openssl` makes for each test and hashes `htpasswd` makes.
final class WebConfigServerTests: XCTestCase {
    var server: MetricsServer?
    var pki: TestPKI!
    /// bcrypt rounds the server ran, through `passwordVerifier`.
    final class Calls: Sendable { let count = Atomic<Int>(0) }
    let bcrypt = Calls()
    var bcryptCalls: Int { bcrypt.count.load(ordering: .relaxed) }

    override func setUp() async throws {
        pki = try TestPKI()
    }

    override func tearDown() async throws {
        try await server?.stop()
        pki?.remove()
    }

    /// A bcrypt hash of `password` made by htpasswd (`$2y$`, as operators make them), cost 4.
    static func htpasswd(_ password: String) throws -> String {
        let result = try Command.run(["htpasswd", "-nbBC", "4", "", password])
        guard result.status == 0 else { throw HarnessError("htpasswd: \(result.standardError)") }
        return result.standardOutput.trimmingCharacters(in: CharacterSet(charactersIn: ":\n"))
    }

    var tls: WebConfig.TLS { WebConfig.TLS(certificate: .file(pki.serverCertificate), privateKey: .file(pki.serverKey)) }

    /// Starts a server with `web`, counting bcrypt rounds.
    func start(_ web: WebConfig, tlsReloadFailed: (@Sendable (WebConfigError) -> Void)? = nil,
               configure: (inout MetricsServer.Configuration) -> Void = { _ in }) async throws -> Int {
        let registry = Registry()
        try registry.counter("demo_requests_total", help: "Requests.").inc()
        var configuration = MetricsServer.Configuration()
        configuration.port = 0
        configuration.web = web
        configuration.tlsReloadFailed = tlsReloadFailed
        configure(&configuration)
        let calls = bcrypt
        configuration.passwordVerifier = { password, hash in
            calls.count.wrappingAdd(1, ordering: .relaxed)
            return ScrapeAuthentication.bcrypt(password, hash)
        }
        let server = try await MetricsServer.start(registry: registry, configuration: configuration)
        self.server = server
        return server.localPort
    }

    /// `curl` against the server: the HTTP status (0 when no HTTP answer came), the headers,
    /// and curl's exit code (35 and others for a failed handshake).
    func curl(_ port: Int, scheme: String = "https", user: String? = nil, certificate: (String, String)? = nil,
              header: String? = nil, path: String = "/metrics") throws -> (status: Int, headers: String, exit: Int32) {
        var arguments = ["curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-D", "-", "-w", "%{http_code}", "--cacert", pki.caCertificate]
        if let user { arguments += ["-u", user] }
        if let (cert, key) = certificate { arguments += ["--cert", cert, "--key", key] }
        if let header { arguments += ["-H", header] }
        arguments.append("\(scheme)://127.0.0.1:\(port)\(path)")
        let result = try Command.run(arguments)
        let status = Int(result.standardOutput.suffix(3)) ?? 0
        return (status, String(result.standardOutput.dropLast(3)), result.status)
    }

    /// The serial number (hex, as openssl prints it) of the certificate the server presents.
    func servedSerial(_ port: Int) throws -> String {
        let handshake = try Command.run(["openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", pki.caCertificate,
                                         "-verify_return_error"])
        guard handshake.status == 0 else { throw HarnessError("s_client: \(handshake.standardError)") }
        let serial = try Command.run(["openssl", "x509", "-noout", "-serial"], input: handshake.standardOutput)
        return serial.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testHTTPSScrapeIs200WithTheRightPasswordAnd401WithAWrongOneOrNone() async throws {
        var web = WebConfig()
        web.tls = tls
        web.basicAuthUsers = ["prom": try Self.htpasswd("s3cret:with colon")]
        let port = try await start(web)
        XCTAssertEqual(try curl(port, user: "prom:s3cret:with colon").status, 200)
        let wrong = try curl(port, user: "prom:nope")
        XCTAssertEqual(wrong.status, 401)
        XCTAssertTrue(wrong.headers.lowercased().contains("www-authenticate: basic realm=\"vigil\""), wrong.headers)
        XCTAssertEqual(try curl(port).status, 401, "no credentials")
        XCTAssertEqual(try curl(port, user: "alice:s3cret:with colon").status, 401, "unknown user")
        XCTAssertEqual(try curl(port, user: "prom:s3cret:with colon", path: "/-/healthy").status, 200)
        XCTAssertEqual(try curl(port, path: "/-/healthy").status, 401, "every path asks for credentials")
    }

    func testPlainHTTPToTheTLSPortFailsAndServesNoMetrics() async throws {
        var web = WebConfig()
        web.tls = tls
        let port = try await start(web)
        let plain = try curl(port, scheme: "http")
        XCTAssertNotEqual(plain.exit, 0)
        XCTAssertNotEqual(plain.status, 200)
        let raw = try RawSocket.exchange(port: port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertFalse(raw.contains("demo_requests_total"), raw)
        XCTAssertFalse(raw.hasPrefix("HTTP/1.1 200"), raw)
        XCTAssertEqual(try curl(port).status, 200, "HTTPS still works after the plain attempts")
    }

    func testHeaderSizeLimitStillAppliesBehindTLS() async throws {
        var web = WebConfig()
        web.tls = tls
        let port = try await start(web, configure: { $0.maxHeaderBytes = 4096 })
        XCTAssertEqual(try curl(port, header: "X-Big: " + String(repeating: "a", count: 10_000)).status, 431)
        XCTAssertEqual(try curl(port).status, 200)
    }

    func testRequireAndVerifyClientCertRefusesAHandshakeWithoutAValidClientCertificate() async throws {
        var web = WebConfig()
        web.tls = tls
        web.tls?.clientAuth = .requireAndVerifyClientCert
        web.tls?.clientCA = .file(pki.caCertificate)
        let port = try await start(web)
        let none = try curl(port)
        XCTAssertNotEqual(none.exit, 0, "no client certificate")
        XCTAssertEqual(none.status, 0)
        let stranger = try curl(port, certificate: (pki.strangerCertificate, pki.strangerKey))
        XCTAssertNotEqual(stranger.exit, 0, "a certificate from a CA the server does not trust")
        XCTAssertEqual(try curl(port, certificate: (pki.clientCertificate, pki.clientKey)).status, 200)
    }

    func testVerifyClientCertIfGivenTakesNoneButRefusesAnUntrustedOne() async throws {
        var web = WebConfig()
        web.tls = tls
        web.tls?.clientAuth = .verifyClientCertIfGiven
        web.tls?.clientCA = .file(pki.caCertificate)
        let port = try await start(web)
        XCTAssertEqual(try curl(port).status, 200)
        XCTAssertEqual(try curl(port, certificate: (pki.clientCertificate, pki.clientKey)).status, 200)
        XCTAssertNotEqual(try curl(port, certificate: (pki.strangerCertificate, pki.strangerKey)).exit, 0)
    }

    func testRequireAnyClientCertTakesAnUntrustedCertificateButNotNone() async throws {
        var web = WebConfig()
        web.tls = tls
        web.tls?.clientAuth = .requireAnyClientCert
        let port = try await start(web)
        XCTAssertNotEqual(try curl(port).exit, 0)
        XCTAssertEqual(try curl(port, certificate: (pki.strangerCertificate, pki.strangerKey)).status, 200)
    }

    func testClientAllowedSANsAdmitsOnlyACertificateCarryingOne() async throws {
        var web = WebConfig()
        web.tls = tls
        web.tls?.clientAuth = .requireAndVerifyClientCert
        web.tls?.clientCA = .file(pki.caCertificate)
        web.tls?.clientAllowedSANs = ["scraper.test"]
        let port = try await start(web)
        XCTAssertEqual(try curl(port, certificate: (pki.clientCertificate, pki.clientKey)).status, 200)
        try await server?.stop()
        web.tls?.clientAllowedSANs = ["other.test", "127.0.0.2"]
        let other = try await start(web)
        XCTAssertEqual(try curl(other, certificate: (pki.clientCertificate, pki.clientKey)).status, 0)
    }

    func testARotatedCertificateIsServedOnTheNextConnectionWithoutARestart() async throws {
        var web = WebConfig()
        web.tls = tls
        let failures = Mutex<[WebConfigError]>([])
        let port = try await start(web) { error in failures.withLock { $0.append(error) } }
        XCTAssertEqual(try servedSerial(port), "serial=03E8")
        try pki.rotateServerCertificate(serial: 1001, commonName: "vigil test server, rotated")
        XCTAssertEqual(try servedSerial(port), "serial=03E9")
        XCTAssertEqual(try curl(port).status, 200)
        // A key that is not PEM: the previous certificate stays in service, and the failure is told once.
        try "not a key".write(toFile: pki.serverKey, atomically: true, encoding: .utf8)
        XCTAssertEqual(try servedSerial(port), "serial=03E9")
        XCTAssertEqual(try servedSerial(port), "serial=03E9")
        XCTAssertEqual(failures.withLock { $0.map(\.key) }, ["tls_server_config.key_file"])
        try pki.rotateServerCertificate(serial: 1002, commonName: "vigil test server, fixed")
        XCTAssertEqual(try servedSerial(port), "serial=03EA")
    }

    func testBcryptRunsOnceForCredentialsItAcceptedAndAfreshForAnyOther() async throws {
        var web = WebConfig()
        web.tls = tls
        web.basicAuthUsers = ["prom": try Self.htpasswd("right")]
        let port = try await start(web)
        XCTAssertEqual(try curl(port, user: "prom:right").status, 200)
        XCTAssertEqual(try curl(port, user: "prom:right").status, 200)
        XCTAssertEqual(try curl(port, user: "prom:right").status, 200)
        XCTAssertEqual(bcryptCalls, 1, "a cached success costs no bcrypt round")
        XCTAssertEqual(try curl(port, user: "prom:changed").status, 401)
        XCTAssertEqual(bcryptCalls, 2, "a changed password is checked afresh")
        XCTAssertEqual(try curl(port, user: "prom:changed").status, 401)
        XCTAssertEqual(bcryptCalls, 3, "failures are never cached")
        XCTAssertEqual(try curl(port, user: "nobody:right").status, 401)
        XCTAssertEqual(bcryptCalls, 4, "an unknown user costs a round too, so timing does not tell users apart")
        XCTAssertEqual(try curl(port, user: "prom:right").status, 200)
        XCTAssertEqual(bcryptCalls, 4)
    }

    func testConfiguredHeadersAreOnEveryResponse() async throws {
        var web = WebConfig()
        web.headers = [.init(name: "X-Frame-Options", value: "deny"), .init(name: "Strict-Transport-Security", value: "max-age=31536000")]
        web.basicAuthUsers = ["prom": try Self.htpasswd("pw")]
        let port = try await start(web)
        for (user, status) in [("prom:pw", 200), ("prom:no", 401)] {
            let answer = try curl(port, scheme: "http", user: user)
            XCTAssertEqual(answer.status, status)
            XCTAssertTrue(answer.headers.lowercased().contains("x-frame-options: deny"), answer.headers)
            XCTAssertTrue(answer.headers.lowercased().contains("strict-transport-security: max-age=31536000"), answer.headers)
        }
    }

    func testStartRefusesAWebConfigItCannotServeAndSaysWhichKey() async throws {
        var web = WebConfig()
        web.basicAuthUsers = ["prom": "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"]
        await assertStartFails(web, key: "basic_auth_users.prom")
        web = WebConfig()
        web.tls = WebConfig.TLS(certificate: .file(pki.serverCertificate), privateKey: .file(pki.clientKey))
        await assertStartFails(web, key: "tls_server_config.key_file", containing: "does not belong to the certificate")
        web.tls = WebConfig.TLS(certificate: .file(pki.directory + "/missing.crt"), privateKey: .file(pki.serverKey))
        await assertStartFails(web, key: "tls_server_config.cert_file", containing: "No such file or directory")
        web.tls = tls
        web.tls?.clientAuth = .requireAndVerifyClientCert
        await assertStartFails(web, key: "tls_server_config.client_auth_type", containing: "needs client_ca_file")
    }

    func assertStartFails(_ web: WebConfig, key: String, containing text: String = "", line: UInt = #line) async {
        do {
            _ = try await start(web)
            XCTFail("started", line: line)
        } catch let MetricsServerError.webConfig(error) {
            XCTAssertEqual(error.key, key, line: line)
            XCTAssertTrue(text.isEmpty || error.message.contains(text), error.message, line: line)
        } catch {
            XCTFail("\(error)", line: line)
        }
    }

    func testCipherSuitesAndCurvesReachTheHandshake() async throws {
        var web = WebConfig()
        web.tls = tls
        web.tls?.maxVersion = .tls12
        web.tls?.cipherSuites = [WebConfig.CipherSuite(name: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")!]
        web.tls?.curves = [WebConfig.Curve(name: "CurveP384")!]
        let port = try await start(web)
        let handshake = try Command.run(["openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", pki.caCertificate, "-brief"])
        XCTAssertTrue(handshake.standardError.contains("Protocol version: TLSv1.2"), handshake.standardError)
        XCTAssertTrue(handshake.standardError.contains("Ciphersuite: ECDHE-ECDSA-AES256-GCM-SHA384"), handshake.standardError)
        XCTAssertTrue(handshake.standardError.contains("Server Temp Key: ECDH, secp384r1"), handshake.standardError)
        let tls13 = try Command.run(["openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", pki.caCertificate, "-tls1_3"])
        XCTAssertNotEqual(tls13.status, 0, "max_version TLS12 refuses TLS 1.3")
    }
}

final class BasicAuthCacheTests: XCTestCase {
    func testHoldsAtMostCapacityEntriesDroppingTheOldest() {
        let cache = BasicAuthCache(capacity: 2)
        cache.insert(user: "a", password: "1", hash: "h")
        cache.insert(user: "b", password: "2", hash: "h")
        cache.insert(user: "c", password: "3", hash: "h")
        XCTAssertFalse(cache.contains(user: "a", password: "1", hash: "h"))
        XCTAssertTrue(cache.contains(user: "b", password: "2", hash: "h"))
        XCTAssertTrue(cache.contains(user: "c", password: "3", hash: "h"))
        XCTAssertFalse(cache.contains(user: "c", password: "3x", hash: "h"))
        XCTAssertFalse(cache.contains(user: "c", password: "3", hash: "other"))
    }

    func testEntriesExpireAfterTheirLifetime() {
        let cache = BasicAuthCache(lifetime: .zero)
        cache.insert(user: "a", password: "1", hash: "h")
        XCTAssertFalse(cache.contains(user: "a", password: "1", hash: "h"))
    }

    func testCredentialsComeFromABasicHeaderOnly() {
        XCTAssertEqual(ScrapeAuthentication.credentials("Basic " + Base64.encode(Array("u:p:q".utf8)))?.password, "p:q")
        XCTAssertEqual(ScrapeAuthentication.credentials("basic " + Base64.encode(Array("u:p".utf8)))?.user, "u")
        XCTAssertNil(ScrapeAuthentication.credentials("Bearer abc"))
        XCTAssertNil(ScrapeAuthentication.credentials("Basic !!!"))
        XCTAssertNil(ScrapeAuthentication.credentials("Basic " + Base64.encode(Array("no-colon".utf8))))
        XCTAssertNil(ScrapeAuthentication.credentials(nil))
    }

    func testBcryptHashesAreRecognised() {
        XCTAssertTrue(WebConfig.isBcryptHash("$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG"))
        XCTAssertTrue(WebConfig.isBcryptHash("$2b$04$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG"))
        XCTAssertFalse(WebConfig.isBcryptHash("$2x$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG"))
        XCTAssertFalse(WebConfig.isBcryptHash("$2y$03$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG"))
        XCTAssertFalse(WebConfig.isBcryptHash("$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7z"))
        XCTAssertFalse(WebConfig.isBcryptHash("hunter2"))
    }
}
