import Foundation
import Vigil
import VigilTestSupport
import XCTest
@testable import VigilSidecar

/// `--web.config.file`: the exporter-toolkit format read by `WebConfigFile`, every key and every
/// error with its file and line.
final class WebConfigFileTests: XCTestCase {
    static let hash = "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG"

    func testTheBundledAnnotatedWebConfigParses() throws {
        let path = ConfigTests.root.appendingPathComponent("config/web.yml").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let web = try WebConfigFile.parse(text, file: path, directory: "/etc/vigil")
        XCTAssertEqual(web.tls?.certificate, .file("/etc/vigil/tls/server.crt"))
        XCTAssertEqual(web.tls?.clientAuth, .noClientCert)
        XCTAssertEqual(web.basicAuthUsers.count, 1)
    }

    func testEveryKey() throws {
        let yaml = """
            tls_server_config:
              cert_file: tls/server.crt
              key_file: /abs/server.key
              client_auth_type: RequireAndVerifyClientCert
              client_ca_file: ca.crt
              client_allowed_sans: [scraper.test, 10.0.0.1]
              min_version: TLS12
              max_version: TLS13
              cipher_suites:
                - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
                - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
                - TLS_AES_128_GCM_SHA256
              prefer_server_cipher_suites: false
              curve_preferences: [X25519, CurveP256, CurveP384, CurveP521, X25519MLKEM768]
            http_server_config:
              http2: false
              unauthenticated_probes: true
              headers:
                Content-Security-Policy: default-src 'self'
                X-Frame-Options: sameorigin
                X-Content-Type-Options: nosniff
                X-XSS-Protection: "1; mode=block"
                Strict-Transport-Security: max-age=31536000
            basic_auth_users:
              alice: \(Self.hash)
              bob: \(Self.hash.replacingOccurrences(of: "$2y$", with: "$2b$"))
            """
        let web = try WebConfigFile.parse(yaml, file: "web.yml", directory: "/etc/vigil")
        let tls = try XCTUnwrap(web.tls)
        XCTAssertEqual(tls.certificate, .file("/etc/vigil/tls/server.crt"), "relative to the web config's directory")
        XCTAssertEqual(tls.privateKey, .file("/abs/server.key"))
        XCTAssertEqual(tls.clientAuth, .requireAndVerifyClientCert)
        XCTAssertEqual(tls.clientCA, .file("/etc/vigil/ca.crt"))
        XCTAssertEqual(tls.clientAllowedSANs, ["scraper.test", "10.0.0.1"])
        XCTAssertEqual(tls.minVersion, .tls12)
        XCTAssertEqual(tls.maxVersion, .tls13)
        XCTAssertEqual(tls.cipherSuites.map(\.code), [0xC030, 0xCCA9, 0x1301])
        XCTAssertFalse(tls.preferServerCipherSuites)
        XCTAssertEqual(tls.curves.map(\.code), [0x1D, 0x17, 0x18, 0x19, 0x11EC])
        XCTAssertFalse(web.http2)
        XCTAssertTrue(web.unauthenticatedProbes)
        XCTAssertFalse(try WebConfigFile.parse("http_server_config:\n  http2: true\n", file: "web.yml").unauthenticatedProbes,
                       "probes ask for credentials unless the operator says otherwise")
        XCTAssertEqual(web.headers.map(\.name), ["Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "X-XSS-Protection", "Strict-Transport-Security"])
        XCTAssertEqual(web.headers[0].value, "default-src 'self'")
        XCTAssertEqual(web.basicAuthUsers.keys.sorted(), ["alice", "bob"])
    }

    func testInlinePEMAndAnEmptyTLSBlock() throws {
        let inline = try WebConfigFile.parse("tls_server_config:\n  cert: |\n    -----BEGIN CERTIFICATE-----\n  key: k\n", file: "web.yml")
        XCTAssertEqual(inline.tls?.certificate, .pem("-----BEGIN CERTIFICATE-----\n"))
        XCTAssertEqual(inline.tls?.privateKey, .pem("k"))
        // As in exporter-toolkit: no certificate, key, CA or client auth type means plain HTTP.
        XCTAssertNil(try WebConfigFile.parse("tls_server_config:\n", file: "web.yml").tls)
        XCTAssertNil(try WebConfigFile.parse("tls_server_config:\n  min_version: TLS13\n", file: "web.yml").tls)
        XCTAssertEqual(try WebConfigFile.parse("", file: "web.yml"), WebConfig(), "an empty file, like the Secret's commented one")
        XCTAssertEqual(try WebConfigFile.parse("# nothing\n", file: "web.yml"), WebConfig())
    }

    func testBrokenWebConfigsGetExactMessages() {
        let tls = "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n"
        let cases: [(String, String)] = [
            ("tls_config:\n  cert_file: a\n",
             "web.yml:1: tls_config: unknown key (did you mean \"tls_server_config\"?); allowed here: tls_server_config, http_server_config, basic_auth_users, rate_limit"),
            (tls + "  client_auth_typ: RequireAndVerifyClientCert\n",
             "web.yml:4: tls_server_config.client_auth_typ: unknown key (did you mean \"client_auth_type\"?); allowed here: \(WebConfigFile.tlsKeys.joined(separator: ", "))"),
            ("tls_server_config:\n  cert_file: a.crt\n",
             "web.yml:2: tls_server_config.key_file: missing: TLS needs the certificate's private key (key_file: server.key)"),
            ("tls_server_config:\n  key_file: a.key\n",
             "web.yml:2: tls_server_config.cert_file: missing: TLS needs the server certificate (cert_file: server.crt, relative to this file's directory)"),
            (tls + "  cert: x\n",
             "web.yml:4: tls_server_config.cert: give cert_file or cert, not both: cert is the certificate itself in PEM, cert_file a file that holds it"),
            (tls + "  client_auth_type: RequireClientCert\n",
             "web.yml:4: tls_server_config.client_auth_type: \"RequireClientCert\" is not a client auth type; use one of: NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"),
            (tls + "  client_auth_type: RequireAndVerifyClientCert\n",
             "web.yml:4: tls_server_config.client_auth_type: RequireAndVerifyClientCert verifies client certificates, so it needs client_ca_file: the CA that signed them"),
            (tls + "  client_ca_file: ca.crt\n",
             "web.yml:4: tls_server_config.client_ca_file: a client CA is set but client_auth_type is NoClientCert; set client_auth_type: RequireAndVerifyClientCert, or remove client_ca_file"),
            (tls + "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n  client_allowed_sans: [a]\n",
             "web.yml:6: tls_server_config.client_allowed_sans: needs client_auth_type RequireAndVerifyClientCert (and client_ca_file): with VerifyClientCertIfGiven a client may send no certificate, so there is no SAN to match"),
            (tls + "  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [a]\n",
             "web.yml:5: tls_server_config.client_allowed_sans: needs client_auth_type RequireAndVerifyClientCert (and client_ca_file): RequireAnyClientCert takes any certificate, signed by anyone, so the names on it prove nothing"),
            (tls + "  min_version: TLS14\n",
             "web.yml:4: tls_server_config.min_version: \"TLS14\" is not a TLS version; use one of: TLS10, TLS11, TLS12, TLS13"),
            (tls + "  min_version: TLS13\n  max_version: TLS12\n",
             "web.yml:4: tls_server_config.min_version: TLS13 is above max_version TLS12"),
            (tls + "  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n    - TLS_RSA_WITH_RC4_128_SHA\n",
             "web.yml:6: tls_server_config.cipher_suites[1]: \"TLS_RSA_WITH_RC4_128_SHA\" is not a cipher suite vigil knows; use Go's names, one of: \(WebConfig.CipherSuite.all.map(\.name).joined(separator: ", "))"),
            (tls + "  curve_preferences: [P256]\n",
             "web.yml:4: tls_server_config.curve_preferences[0]: \"P256\" is not a curve vigil knows; use Go's names, one of: CurveP256, CurveP384, CurveP521, X25519, X25519MLKEM768"),
            (tls + "  prefer_server_cipher_suites: maybe\n",
             "web.yml:4: tls_server_config.prefer_server_cipher_suites: \"maybe\" is not true or false"),
            ("basic_auth_users:\n  alice: \(Self.hash)\n  bob: hunter2\n",
             "web.yml:3: basic_auth_users.bob: \(WebConfig.notBcryptMessage)"),
            ("basic_auth_users: [alice]\n",
             "web.yml:1: basic_auth_users: expected a mapping of user names to bcrypt hashes, like prometheus: $2y$10$…"),
            ("http_server_config:\n  headers:\n    X-Powered-By: vigil\n",
             "web.yml:3: http_server_config.headers.X-Powered-By: unknown key (did you mean \"X-Frame-Options\"?); allowed here: Content-Security-Policy, X-Frame-Options, X-Content-Type-Options, X-XSS-Protection, Strict-Transport-Security"),
            ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
             "web.yml:3: http_server_config.headers.X-Frame-Options: \"allow\" is not allowed; use one of: deny, sameorigin"),
            ("http_server_config:\n  http2: maybe\n", "web.yml:2: http_server_config.http2: \"maybe\" is not true or false"),
            ("http_server_config:\n  unauthenticated_probes: yes please\n",
             "web.yml:2: http_server_config.unauthenticated_probes: \"yes please\" is not true or false"),
            ("rate_limit:\n  interval: 1s\n  burst: 5\n",
             "web.yml:2: rate_limit: not supported by vigil; remove it (vigil limits connections in all and per client address, and backs off addresses that keep sending wrong passwords, instead)"),
            ("tls_server_config: [\n", "web.yml:2: not valid YAML"),
        ]
        for (yaml, expected) in cases {
            XCTAssertThrowsError(try WebConfigFile.parse(yaml, file: "web.yml"), yaml) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix(expected), "\(yaml)\ngot:      \(text)\nexpected: \(expected)")
            }
        }
    }

    func testLoadReadsTheFilesRelativeToTheWebConfigAndNamesTheOneAtFault() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let path = pki.directory + "/web.yml"
        func write(_ text: String) throws { try text.write(toFile: path, atomically: true, encoding: .utf8) }
        try write("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
        XCTAssertEqual(try WebConfigFile.load(path: path).tls?.certificate, .file(pki.serverCertificate))
        try write("tls_server_config:\n  cert_file: server.crt\n  key_file: client.key\n")
        XCTAssertThrowsError(try WebConfigFile.load(path: path)) { error in
            XCTAssertEqual("\(error)", "\(path):3: tls_server_config.key_file: this key does not belong to the certificate in \(pki.serverCertificate); give the key the certificate was issued for")
        }
        try write("tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n")
        XCTAssertThrowsError(try WebConfigFile.load(path: path)) { error in
            XCTAssertEqual("\(error)", "\(path):2: tls_server_config.cert_file: cannot read \(pki.directory)/missing.crt: No such file or directory")
        }
        try write("tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n")
        XCTAssertThrowsError(try WebConfigFile.load(path: path)) { error in
            XCTAssertEqual("\(error)", "\(path):2: tls_server_config.cert_file: \(pki.serverKey) holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")
        }
        XCTAssertThrowsError(try WebConfigFile.load(path: pki.directory + "/nope.yml")) { error in
            XCTAssertEqual("\(error)", "\(pki.directory)/nope.yml: cannot read the file: No such file or directory")
        }
    }

    func testVigilCheckChecksAWebConfig() throws {
        let binary = VigilServeProcess.binary.path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw XCTSkip("\(binary) is missing: build it with `swift build --product vigil` (make test does)")
        }
        let pki = try TestPKI()
        defer { pki.remove() }
        let path = pki.directory + "/web.yml"
        try "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prom: \(Self.hash)\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let good = try Command.run([binary, "check", "--web.config.file", path])
        XCTAssertEqual(good.status, 0, good.standardError)
        XCTAssertEqual(good.standardOutput, "\(path): ok — TLS (client_auth_type NoClientCert), basic auth for 1 user(s)\n")
        try "basic_auth_users:\n  prom: secret\n".write(toFile: path, atomically: true, encoding: .utf8)
        let bad = try Command.run([binary, "check", "--web.config.file", path])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.standardError.hasPrefix("\(path):2: basic_auth_users.prom: expected a bcrypt hash"), bad.standardError)
    }
}
