import Foundation
import Synchronization

/// Certificates made by the real `openssl` command for one test, in a temporary directory that
/// `remove()` deletes (never committed): a CA, a server certificate for `127.0.0.1`/`localhost`
/// signed by it, and a client certificate (SAN `DNS:scraper.test`) signed by it.
public struct TestPKI: Sendable {
    public let directory: String
    public var caCertificate: String { directory + "/ca.crt" }
    public var serverCertificate: String { directory + "/server.crt" }
    public var serverKey: String { directory + "/server.key" }
    public var clientCertificate: String { directory + "/client.crt" }
    public var clientKey: String { directory + "/client.key" }
    /// A certificate and key from a CA the server does not trust.
    public var strangerCertificate: String { directory + "/stranger.crt" }
    public var strangerKey: String { directory + "/stranger.key" }

    /// Makes the CA, the server certificate (serial 1000) and the client certificates.
    public init() throws {
        directory = NSTemporaryDirectory() + "vigil-pki-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Self.openssl(in: directory, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                         "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=vigil test CA",
                                         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        try issue(name: "server", commonName: "vigil test server", serial: 1000,
                  extensions: "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        try issue(name: "client", commonName: "scraper", serial: 2000,
                  extensions: "subjectAltName=DNS:scraper.test\nextendedKeyUsage=clientAuth\n")
        try Self.openssl(in: directory, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                         "-keyout", "stranger.key", "-out", "stranger.crt", "-days", "2", "-subj", "/CN=stranger",
                                         "-addext", "subjectAltName=DNS:scraper.test"])
    }

    /// Replaces the server certificate and key on disk, as a rotation does: both are written
    /// beside the old ones and renamed over them, the certificate first.
    public func rotateServerCertificate(serial: Int, commonName: String) throws {
        try issue(name: "next", commonName: commonName, serial: serial,
                  extensions: "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        try FileManager.default.removeItem(atPath: serverCertificate)
        try FileManager.default.moveItem(atPath: directory + "/next.crt", toPath: serverCertificate)
        try FileManager.default.removeItem(atPath: serverKey)
        try FileManager.default.moveItem(atPath: directory + "/next.key", toPath: serverKey)
    }

    /// Deletes the directory and everything in it.
    public func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func issue(name: String, commonName: String, serial: Int, extensions: String) throws {
        try extensions.write(toFile: directory + "/\(name).ext", atomically: true, encoding: .utf8)
        try Self.openssl(in: directory, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                         "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(commonName)"])
        try Self.openssl(in: directory, ["x509", "-req", "-in", "\(name).csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                                         "-set_serial", String(serial), "-days", "2", "-extfile", "\(name).ext", "-out", "\(name).crt"])
    }

    private static func openssl(in directory: String, _ arguments: [String]) throws {
        let result = try Command.run(["openssl"] + arguments, in: directory)
        guard result.status == 0 else { throw HarnessError("openssl \(arguments.joined(separator: " ")) failed: \(result.standardError)") }
    }
}

/// A command run to completion, as a test's real peer (curl, openssl).
public struct Command: Sendable {
    public let status: Int32
    public let standardOutput: String
    public let standardError: String

    /// Runs `arguments` (the first is looked up on PATH) and waits for it to exit; `input` is its
    /// standard input (empty: none).
    public static func run(_ arguments: [String], in directory: String? = nil, input: String = "") throws -> Command {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        // Read both pipes to their ends before waiting, so a full pipe never stalls the child.
        let errors = Mutex(Data())
        let errorsRead = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            errors.withLock { $0 = stderr.fileHandleForReading.readDataToEndOfFile() }
            errorsRead.signal()
        }
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        errorsRead.wait()
        process.waitUntilExit()
        return Command(status: process.terminationStatus, standardOutput: String(decoding: output, as: UTF8.self),
                       standardError: String(decoding: errors.withLock { $0 }, as: UTF8.self))
    }
}
