import Foundation
import XCTest

/// A private CA and the certificates it signs, made with `openssl` in a temporary folder for one
/// test and deleted with it; nothing is committed. The server certificate names 127.0.0.1 and
/// collector.vigil.test; a second CA signs a client certificate the first does not trust.
final class TestCertificates {
    let folder: URL
    /// The CA that signs the server and the client certificate.
    var caFile: String { path("ca.pem") }
    var serverCertificate: String { path("server.pem") }
    var serverKey: String { path("server.key") }
    /// A client certificate (CN vigil-client) signed by the CA.
    var clientCertificate: String { path("client.pem") }
    var clientKey: String { path("client.key") }
    /// A client certificate (CN stranger) signed by a CA nobody trusts.
    var strangerCertificate: String { path("stranger.pem") }
    var strangerKey: String { path("stranger.key") }

    /// The host name besides 127.0.0.1 that the server certificate names.
    static let serverName = "collector.vigil.test"

    init() throws {
        guard let openssl = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw XCTSkip("openssl is not installed: run scripts/setup")
        }
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-tls-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        func run(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: openssl)
            process.arguments = arguments
            process.currentDirectoryURL = folder
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let said = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw NSError(domain: "openssl", code: Int(process.terminationStatus), userInfo: [
                    NSLocalizedDescriptionKey: "openssl \(arguments.joined(separator: " ")): \(String(decoding: said, as: UTF8.self))",
                ])
            }
        }
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        func authority(_ name: String, _ commonName: String) throws {
            try run(["req", "-x509"] + key + ["-keyout", "\(name).key", "-out", "\(name).pem", "-days", "2", "-subj", "/CN=\(commonName)"])
        }
        func leaf(_ name: String, _ commonName: String, signedBy ca: String, extensions: String) throws {
            try run(["req"] + key + ["-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(commonName)"])
            try extensions.write(to: folder.appendingPathComponent("\(name).ext"), atomically: true, encoding: .utf8)
            try run(["x509", "-req", "-in", "\(name).csr", "-CA", "\(ca).pem", "-CAkey", "\(ca).key", "-CAcreateserial",
                     "-out", "\(name).pem", "-days", "2", "-extfile", "\(name).ext"])
        }
        try authority("ca", "Vigil test CA")
        try authority("other-ca", "Someone else's CA")
        try leaf("server", "127.0.0.1", signedBy: "ca",
                 extensions: "subjectAltName=IP:127.0.0.1,DNS:\(Self.serverName)\nextendedKeyUsage=serverAuth\n")
        try leaf("client", "vigil-client", signedBy: "ca", extensions: "extendedKeyUsage=clientAuth\n")
        try leaf("stranger", "stranger", signedBy: "other-ca", extensions: "extendedKeyUsage=clientAuth\n")
    }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: folder) }
}
