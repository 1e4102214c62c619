import Foundation
import Vigil
import XCTest
@testable import VigilSidecar

/// The push targets' credentials and TLS settings in vigil.yml: secrets read from files when the
/// configuration is loaded, TLS files checked then, and every mistake reported at its line.
final class PushConfigTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-push-config-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: folder)
    }

    /// Writes `text` to `name` in the test's folder; returns its path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let url = folder.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Files that look like what TLS settings name (they are only checked, never used here).
    func writePEMFiles() throws {
        try write("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
        try write("client.pem", "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n")
        try write("client.key", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")
    }

    func load(_ yaml: String, environment: [String: String] = [:]) throws -> SidecarConfig {
        try SidecarConfig.load(path: try write("vigil.yml", yaml), environment: environment)
    }

    func assertFails(_ yaml: String, environment: [String: String] = [:], _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try load(yaml, environment: environment), file: file, line: line) { error in
            let said = "\(error)".replacingOccurrences(of: folder.path + "/", with: "")
            XCTAssertEqual(said, expected, file: file, line: line)
        }
    }

    func testTheCommentedPushSectionsOfTheBundledConfigLoad() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let bundled = try String(contentsOf: root.appendingPathComponent("config/vigil.yml"), encoding: .utf8)
        var yaml = ""
        var inside = false
        for line in bundled.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "# pushgateway:" || line == "# otlp:" { inside = true } else if !line.hasPrefix("#   ") { inside = false }
            if inside { yaml += line.dropFirst(2) + "\n" }
        }
        // The files the examples name, made here: certificates and keys by their extension, secrets otherwise.
        let files = try NSRegularExpression(pattern: "/(?:etc/vigil|run/secrets)/([A-Za-z0-9._-]+)")
        for match in files.matches(in: yaml, range: NSRange(yaml.startIndex..., in: yaml)).reversed() {
            let name = String(yaml[Range(match.range(at: 1), in: yaml)!])
            try writePEMFiles()
            if !name.hasSuffix(".pem") && !name.hasSuffix(".key") { try write(name, "secret-of-\(name)\n") }
            yaml.replaceSubrange(Range(match.range, in: yaml)!, with: name)
        }
        let c = try load(yaml)
        guard case .basic("pusher", "secret-of-pushgateway-password") = c.pushgateway?.client.auth else { return XCTFail(yaml) }
        XCTAssertEqual(c.pushgateway?.client.tls.serverName, "pushgateway.internal")
        XCTAssertEqual(c.pushgateway?.client.tls.keyFile, folder.appendingPathComponent("client.key").path)
        XCTAssertEqual(c.otlp?.headers.map(\.name), ["x-team", "api-key", "Authorization"])
        XCTAssertEqual(c.otlp?.headers.last?.value, "Bearer secret-of-otlp-token")
        XCTAssertEqual(c.otlp?.tls.caFile, folder.appendingPathComponent("ca.pem").path)
        XCTAssertTrue(c.otlpMetrics.enabled)
        XCTAssertEqual(c.otlpMetrics.endpoint, "https://collector.internal:4318/v1/metrics")
        XCTAssertEqual(c.otlpMetrics.headers.map(\.name), ["x-team", "api-key", "Authorization", "x-signal"])
        XCTAssertEqual(c.otlpMetrics.tls.caFile, folder.appendingPathComponent("ca.pem").path)
    }

    func testTheMetricsBlockInheritsTheCollectorAndTheEnvironmentWins() throws {
        let yaml = """
            otlp:
              endpoint: http://collector:4318
              protocol: http/json
              metrics:
                interval: 15s
                compression: none

            """
        let c = try load(yaml)
        XCTAssertTrue(c.otlpMetrics.enabled)
        XCTAssertEqual(c.otlpMetrics.endpoint, "http://collector:4318/v1/metrics")
        XCTAssertEqual(c.otlpMetrics.encoding, .json, "inherited from otlp:")
        XCTAssertFalse(c.otlpMetrics.gzip)
        XCTAssertEqual(c.otlpMetrics.interval, .seconds(15))
        XCTAssertTrue(c.otlp?.gzip ?? false, "the block changes the metrics only")

        XCTAssertFalse(try load(yaml, environment: ["OTEL_METRICS_EXPORTER": "none"]).otlpMetrics.enabled)
        let env = try load(yaml, environment: ["OTEL_METRIC_EXPORT_INTERVAL": "2000", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m:1/x"])
        XCTAssertEqual(env.otlpMetrics.interval, .seconds(2))
        XCTAssertEqual(env.otlpMetrics.endpoint, "http://m:1/x")
        XCTAssertFalse(try load("otlp:\n  endpoint: http://c:4318\n").otlpMetrics.enabled, "no block, no metrics")
        XCTAssertTrue(try load("listen: 127.0.0.1:0\n", environment: ["OTEL_METRICS_EXPORTER": "otlp"]).otlpMetrics.enabled)
        assertFails("otlp:\n  metrics:\n    interval: 10ms\n", "vigil.yml:3: otlp.metrics.interval: must be at least 1s (try 60s)")
        assertFails("otlp:\n  metrics:\n    intervall: 10s\n",
                    "vigil.yml:3: otlp.metrics.intervall: unknown key (did you mean \"interval\"?); allowed here: enabled, endpoint, protocol, compression, interval, timeout, export_timeout, headers")
        assertFails("listen: 127.0.0.1:0\n", environment: ["OTEL_METRICS_EXPORTER": "console"],
                    "environment: OTEL_METRICS_EXPORTER: \"console\" is not an exporter Vigil has: use otlp (push to an OTLP collector) or none (Prometheus scrapes /metrics either way)")
    }

    func testSecretsAreReadFromFilesTheirLineBreakDroppedAndRelativePathsTakenFromTheConfigFolder() throws {
        try write("pushgateway-password", "s3cret pass\n")
        try write("otlp-token", "t0ken\r\n")
        try write("api-key", "k3y")
        let c = try load("""
            pushgateway:
              url: https://gateway:9091
              basic_auth:
                username: pusher
                password_file: pushgateway-password
            otlp:
              endpoint: https://collector:4318
              bearer_token_file: \(folder.path)/otlp-token
              headers:
                x-api-key: {file: api-key}
                x-team: observability
            """)
        guard case .basic(let user, let password) = c.pushgateway?.client.auth else { return XCTFail("\(String(describing: c.pushgateway?.client.auth))") }
        XCTAssertEqual(user, "pusher")
        XCTAssertEqual(password, "s3cret pass")
        let headers = c.otlp?.headers.map { "\($0.name)=\($0.value)" }
        XCTAssertEqual(headers, ["x-api-key=k3y", "x-team=observability", "Authorization=Bearer t0ken"])
    }

    func testEachLoadReadsTheSecretFilesAgain() throws {
        try write("token", "first\n")
        let yaml = "pushgateway:\n  url: http://gateway:9091\n  bearer_token_file: token\n"
        guard case .bearer(let first) = try load(yaml).pushgateway?.client.auth else { return XCTFail() }
        try write("token", "second\n")
        guard case .bearer(let second) = try load(yaml).pushgateway?.client.auth else { return XCTFail() }
        XCTAssertEqual([first, second], ["first", "second"])
    }

    func testInlineSecretsAndOTLPBasicAuthStillWork() throws {
        let c = try load("""
            pushgateway:
              url: http://gateway:9091
              bearer_token: inline-token
            otlp:
              basic_auth: {username: tracer, password: pw}
            """)
        guard case .bearer(let token) = c.pushgateway?.client.auth else { return XCTFail() }
        XCTAssertEqual(token, "inline-token")
        XCTAssertEqual(c.otlp?.headers.first?.name, "Authorization")
        XCTAssertEqual(c.otlp?.headers.first?.value, "Basic " + Base64.encode(Array("tracer:pw".utf8)))
    }

    func testAnUnreadableSecretFileIsAnErrorAtItsLineNamingThePathAndTheReason() throws {
        assertFails("pushgateway:\n  url: http://gateway:9091\n  basic_auth:\n    username: pusher\n    password_file: /nonexistent/pw\n",
                    "vigil.yml:5: pushgateway.basic_auth.password_file: cannot read \"/nonexistent/pw\": No such file or directory")
        assertFails("otlp:\n  bearer_token_file: /nonexistent/token\n",
                    "vigil.yml:2: otlp.bearer_token_file: cannot read \"/nonexistent/token\": No such file or directory")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("secrets"), withIntermediateDirectories: true)
        assertFails("otlp:\n  headers:\n    api-key: {file: secrets}\n",
                    "vigil.yml:3: otlp.headers.api-key.file: cannot read \"secrets\": not a regular file (a FIFO, device or socket is never read); give the file itself")
    }

    func testCredentialMistakesGetExactMessages() throws {
        try write("empty", "\n")
        try write("two-lines", "one\ntwo\n")
        try write("pw", "pw\n")
        let gateway = "pushgateway:\n  url: http://gateway:9091\n"
        let cases: [(String, String)] = [
            (gateway + "  basic: {username: pusher, password: pw}\n",
             "vigil.yml:3: pushgateway.basic: renamed basic_auth, as in Prometheus: basic_auth: {username: pusher, password_file: /run/secrets/pushgateway}"),
            (gateway + "  basic_auth: {username: pusher, password: pw, password_file: pw}\n",
             "vigil.yml:3: pushgateway.basic_auth.password_file: set password or password_file, not both"),
            (gateway + "  basic_auth: {username: pusher}\n",
             "vigil.yml:3: pushgateway.basic_auth: needs password_file (the file that holds the password) or password"),
            (gateway + "  basic_auth: {password_file: pw}\n",
             "vigil.yml:3: pushgateway.basic_auth.username: basic_auth needs a username"),
            (gateway + "  basic_auth: {username: pusher, password_file: pw}\n  bearer_token_file: pw\n",
             "vigil.yml:4: pushgateway.bearer_token_file: set only one of basic_auth and bearer_token_file (one Authorization header is sent)"),
            (gateway + "  bearer_token_file: empty\n",
             "vigil.yml:3: pushgateway.bearer_token_file: \"empty\" is empty; it should hold the secret alone"),
            (gateway + "  bearer_token_file: two-lines\n",
             "vigil.yml:3: pushgateway.bearer_token_file: \"two-lines\" holds a line break or control character; it should hold the secret alone, on one line"),
            ("otlp:\n  headers:\n    Authorization: Bearer x\n  bearer_token_file: pw\n",
             "vigil.yml:3: otlp.headers.Authorization: set Authorization in one place: here, or with basic_auth, bearer_token or bearer_token_file"),
            ("otlp:\n  headers:\n    api-key: {path: pw}\n",
             "vigil.yml:3: otlp.headers.api-key.path: unknown key (did you mean \"file\"?); allowed here: file"),
            ("otlp:\n  headers: [a, b]\n",
             "vigil.yml:2: otlp.headers: expected a mapping of header names to values, like api-key: {file: /run/secrets/api-key}"),
        ]
        for (yaml, expected) in cases { assertFails(yaml, expected) }
    }

    func testTLSBlocksAreParsedWithTheirFilesCheckedAndPathsTakenFromTheConfigFolder() throws {
        try writePEMFiles()
        let c = try load("""
            pushgateway:
              url: https://10.0.0.5:9091
              tls_config:
                ca_file: ca.pem
                cert_file: client.pem
                key_file: client.key
                server_name: pushgateway.internal
            otlp:
              endpoint: https://collector:4318
              tls:
                ca_file: \(folder.path)/ca.pem
                insecure_skip_verify: true
            """)
        let path = { (name: String) in self.folder.appendingPathComponent(name).path }
        XCTAssertEqual(c.pushgateway?.client.tls, TLSClientConfiguration(caFile: path("ca.pem"), certFile: path("client.pem"), keyFile: path("client.key"), serverName: "pushgateway.internal"))
        XCTAssertEqual(c.otlp?.tls, TLSClientConfiguration(caFile: path("ca.pem"), insecureSkipVerify: true))
        XCTAssertEqual(try load("otlp: {}\n").otlp?.tls, TLSClientConfiguration(), "verification on, the system's CAs")
    }

    func testTLSMistakesGetExactMessages() throws {
        try writePEMFiles()
        try write("encrypted.key", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIF\n-----END ENCRYPTED PRIVATE KEY-----\n")
        let gateway = "pushgateway:\n  url: https://gateway:9091\n  tls_config:\n"
        let cases: [(String, String)] = [
            (gateway + "    ca_file: /nonexistent/ca.pem\n",
             "vigil.yml:4: pushgateway.tls_config.ca_file: cannot read \"/nonexistent/ca.pem\": No such file or directory"),
            (gateway + "    cert_file: client.pem\n",
             "vigil.yml:4: pushgateway.tls_config.key_file: cert_file needs key_file too: the client certificate and its private key go together"),
            (gateway + "    key_file: client.key\n",
             "vigil.yml:4: pushgateway.tls_config.cert_file: key_file needs cert_file too: the client certificate and its private key go together"),
            (gateway + "    ca_file: client.key\n",
             "vigil.yml:4: pushgateway.tls_config.ca_file: \"client.key\" holds no PEM certificate (no -----BEGIN CERTIFICATE----- line); "
                + "a DER one converts with: openssl x509 -inform der -in client.key -out client.key.pem"),
            (gateway + "    cert_file: client.pem\n    key_file: encrypted.key\n",
             "vigil.yml:5: pushgateway.tls_config.key_file: \"encrypted.key\" holds an encrypted private key, which vigil cannot unlock; "
                + "store it decrypted, readable by vigil only: openssl pkey -in encrypted.key -out encrypted.key.plain"),
            (gateway + "    server_name: \"https://gateway\"\n",
             "vigil.yml:4: pushgateway.tls_config.server_name: \"https://gateway\" is not a host name (try collector.example.com)"),
            (gateway + "    insecure_skip_verify: maybe\n",
             "vigil.yml:4: pushgateway.tls_config.insecure_skip_verify: \"maybe\" is not true or false"),
            (gateway + "    ca: ca.pem\n",
             "vigil.yml:4: pushgateway.tls_config.ca: unknown key (did you mean \"ca_file\"?); allowed here: ca_file, cert_file, key_file, server_name, insecure_skip_verify"),
            ("otlp:\n  tls_config: {}\n",
             "vigil.yml:2: otlp.tls_config: unknown key (did you mean \"tls\"?); allowed here: endpoint, protocol, compression, headers, timeout, basic_auth, bearer_token, bearer_token_file, tls, metrics"),
        ]
        for (yaml, expected) in cases { assertFails(yaml, expected) }
    }

    func testTheOpenTelemetryTLSVariablesAreCheckedWhenLoadedAndTheTracesOnesWin() throws {
        try writePEMFiles()
        let path = { (name: String) in self.folder.appendingPathComponent(name).path }
        let c = try load("otlp:\n  tls:\n    ca_file: /nonexistent/overridden.pem\n".replacingOccurrences(of: "/nonexistent/overridden.pem", with: path("ca.pem")), environment: [
            "OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/general.pem",
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": path("ca.pem"),
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": path("client.pem"),
            "OTEL_EXPORTER_OTLP_CLIENT_KEY": path("client.key"),
        ])
        XCTAssertEqual(c.otlp?.tls, TLSClientConfiguration(caFile: path("ca.pem"), certFile: path("client.pem"), keyFile: path("client.key")))
        assertFails("", environment: ["OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": "/nonexistent/ca.pem"],
                    "environment: OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: cannot read \"/nonexistent/ca.pem\": No such file or directory")
        assertFails("", environment: ["OTEL_EXPORTER_OTLP_CLIENT_KEY": path("client.pem")],
                    "environment: OTEL_EXPORTER_OTLP_CLIENT_KEY: \"client.pem\" holds no PEM private key (no -----BEGIN PRIVATE KEY----- line); "
                        + "a DER one converts with: openssl pkey -inform der -in client.pem -out client.pem.pem")
        assertFails("", environment: ["OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": path("client.pem")],
                    "environment: OTEL_EXPORTER_OTLP_CLIENT_KEY: not set, while the other half of the client certificate is: the certificate and its private key go together")
    }
}
