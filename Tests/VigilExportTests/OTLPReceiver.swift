import Foundation
import VigilTestSupport
import XCTest
@testable import VigilExport

/// The Python OTLP receiver (scripts/interop.d/otlp_receiver.py), decoding with
/// opentelemetry-proto, run on a loopback port for one test; over HTTPS when given certificates.
final class OTLPReceiver {
    let process = Process()
    let port: Int
    private let client = HTTPClient()
    /// What the test's own control requests trust and show (the CA and its client certificate).
    private let controlTLS: TLSClientConfiguration
    private let scheme: String

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// - Parameters:
    ///   - certificates: serve HTTPS with their server certificate (nil: plain HTTP).
    ///   - requireClientCertificate: refuse clients without a certificate signed by their CA.
    init(port: Int = 0, certificates: TestCertificates? = nil, requireClientCertificate: Bool = false) throws {
        let python = Self.root.appendingPathComponent(".build/peers/bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw XCTSkip("the Python peers are not installed: run `make test` (scripts/setup creates .build/peers)")
        }
        process.executableURL = python
        process.arguments = [Self.root.appendingPathComponent("scripts/interop.d/otlp_receiver.py").path] + (port == 0 ? [] : [String(port)])
        if let certificates {
            process.arguments! += ["--cert", certificates.serverCertificate, "--key", certificates.serverKey]
            if requireClientCertificate { process.arguments! += ["--client-ca", certificates.caFile] }
            controlTLS = TLSClientConfiguration(caFile: certificates.caFile, certFile: certificates.clientCertificate, keyFile: certificates.clientKey)
            scheme = "https"
        } else {
            controlTLS = TLSClientConfiguration()
            scheme = "http"
        }
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        var line = Data()
        while true {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            guard !byte.isEmpty else { throw NSError(domain: "receiver", code: 1, userInfo: [NSLocalizedDescriptionKey: "the OTLP receiver exited before listening"]) }
            if byte == Data([0x0A]) { break }
            line.append(byte)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("listening "), let port = Int(text.dropFirst(10)) else { throw NSError(domain: "receiver", code: 2) }
        self.port = port
    }

    var endpoint: String { url("/v1/traces") }

    /// The receiver's URL for `path`, such as `/v1/metrics`.
    func url(_ path: String) -> String { "\(scheme)://127.0.0.1:\(port)\(path)" }

    func script(_ answers: [[String: Any]]) async throws {
        let body = try JSONSerialization.data(withJSONObject: answers)
        _ = try await client.send(HTTPRequest(method: "POST", url: "\(scheme)://127.0.0.1:\(port)/control/script", body: Array(body), tls: controlTLS))
    }

    struct Received: Decodable {
        var time: Double
        var path: String
        var method: String
        /// The receiver's monotonic clock when the request's headers had been read.
        var arrived: Double
        /// The receiver's monotonic clock just before the answer was written (nil until then).
        var answering: Double?
        var gzip: Bool
        var content_type: String?
        var user_agent: String?
        var authorization: String?
        var answered: Int
        /// The common name of the client certificate, over HTTPS.
        var client_subject: String?
        var spans: [ReceivedSpan]?
        var metrics: [ReceivedPoint]?
        var error: String?
    }

    /// One data point of a pushed metric, with its metric's name, unit and type.
    struct ReceivedPoint: Decodable {
        var resource: [String: AnyJSON]
        var scope: [String: String]
        var name: String
        var description: String
        var unit: String
        /// `sum`, `gauge` or `histogram`.
        var type: String
        var temporality: Int?
        var monotonic: Bool?
        var attributes: [String: AnyJSON]
        var start: UInt64
        var time: UInt64
        var value: Double?
        var count: UInt64?
        var sum: Double?
        var bucket_counts: [UInt64]?
        var bounds: [Double]?
        var exemplars: [ReceivedExemplar]
    }

    struct ReceivedExemplar: Decodable { var trace_id: String; var span_id: String; var value: Double; var time: UInt64 }

    struct ReceivedSpan: Decodable {
        var resource: [String: AnyJSON]
        var scope: [String: String]
        var trace_id: String
        var span_id: String
        var parent_span_id: String
        var trace_state: String
        var name: String
        var kind: Int
        var start: UInt64
        var end: UInt64
        var attributes: [String: AnyJSON]
        var events: [ReceivedEvent]
        var links: [ReceivedLink]
        var status: ReceivedStatus
        var flags: UInt32
    }

    struct ReceivedEvent: Decodable { var name: String; var time: UInt64; var attributes: [String: AnyJSON] }
    struct ReceivedLink: Decodable { var trace_id: String; var span_id: String; var attributes: [String: AnyJSON] }
    struct ReceivedStatus: Decodable { var code: Int; var message: String }

    func received() async throws -> [Received] {
        let response = try await client.send(HTTPRequest(method: "GET", url: "\(scheme)://127.0.0.1:\(port)/control/received", tls: controlTLS))
        return try JSONDecoder().decode([Received].self, from: Data(response.body))
    }

    /// Why each refused TLS handshake failed, in OpenSSL's words (`PEER_DID_NOT_RETURN_A_CERTIFICATE`).
    func refusedHandshakes() async throws -> [String] {
        struct Refusal: Decodable { var reason: String }
        let response = try await client.send(HTTPRequest(method: "GET", url: "\(scheme)://127.0.0.1:\(port)/control/refused", tls: controlTLS))
        return try JSONDecoder().decode([Refusal].self, from: Data(response.body)).map(\.reason)
    }

    func stop() {
        // SIGTERM ends the server at once. Poll rather than waitUntilExit(), which can wait
        // forever for Foundation's run loop when called from a task.
        guard process.isRunning else { return }
        process.terminate()
        try? blockUntil(timeout: .seconds(2), "the OTLP receiver to exit") { !process.isRunning }
    }

    deinit { stop() }
}

/// A JSON value, for attributes of any type.
enum AnyJSON: Decodable, Equatable {
    case string(String), int(Int64), double(Double), bool(Bool), array([AnyJSON]), null

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else { self = .array(try c.decode([AnyJSON].self)) }
    }
}
