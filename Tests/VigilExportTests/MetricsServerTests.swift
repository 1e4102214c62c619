import Foundation
import VigilMetrics
import XCTest
@testable import VigilExport

final class MetricsServerTests: XCTestCase {
    var server: MetricsServer!
    var registry: Registry!
    let client = HTTPClient()

    func start(_ configure: (inout MetricsServer.Configuration) -> Void = { _ in }) async throws {
        registry = Registry()
        try registry.counter("demo_requests_total", help: "Requests.", labelNames: ["path"]).labels("/a").inc(by: 3)
        var config = MetricsServer.Configuration()
        config.port = 0
        configure(&config)
        server = try await MetricsServer.start(registry: registry, configuration: config)
    }

    override func tearDown() async throws {
        try await server?.stop()
    }

    var base: String { "http://127.0.0.1:\(server.localPort)" }

    func get(_ path: String, method: String = "GET", headers: [(name: String, value: String)] = []) async throws -> HTTPResponse {
        try await client.send(HTTPRequest(method: method, url: base + path, headers: headers))
    }

    func testServesTextByDefaultAndOpenMetricsWhenAsked() async throws {
        try await start()
        let text = try await get("/metrics")
        XCTAssertEqual(text.status, 200)
        XCTAssertEqual(text.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertTrue(String(decoding: text.body, as: UTF8.self).contains("demo_requests_total{path=\"/a\"} 3\n"))
        let om = try await get("/metrics", headers: [("Accept", "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")])
        XCTAssertEqual(om.header("Content-Type"), "application/openmetrics-text; version=1.0.0; charset=utf-8")
        XCTAssertTrue(String(decoding: om.body, as: UTF8.self).hasSuffix("# EOF\n"))
    }

    func testGzipWhenAcceptEncodingAllowsIt() async throws {
        try await start()
        let zipped = try await get("/metrics", headers: [("Accept-Encoding", "gzip, deflate")])
        XCTAssertEqual(zipped.header("Content-Encoding"), "gzip")
        let plain = String(decoding: try Gzip.decompress(zipped.body), as: UTF8.self)
        XCTAssertTrue(plain.contains("demo_requests_total{path=\"/a\"} 3\n"))
        let refused = try await get("/metrics", headers: [("Accept-Encoding", "gzip;q=0, identity")])
        XCTAssertNil(refused.header("Content-Encoding"))
        XCTAssertTrue(MetricsHandler.acceptsGzip("*"))
        XCTAssertFalse(MetricsHandler.acceptsGzip("br"))
    }

    func testReadyAnswers503WithTheReasonUntilTheHostSaysItIsReady() async throws {
        let reason = ReadinessBox()
        try await start { $0.ready = { reason.value } }
        reason.value = "the plugins have not been sampled yet"
        let before = try await get("/-/ready")
        XCTAssertEqual(before.status, 503)
        XCTAssertEqual(String(decoding: before.body, as: UTF8.self), "Service Unavailable: the plugins have not been sampled yet.\n")
        let healthy = try await get("/-/healthy").status
        XCTAssertEqual(healthy, 200, "healthy however ready")
        reason.value = nil
        let ready = try await get("/-/ready").status
        XCTAssertEqual(ready, 200)
        reason.value = "shutting down"
        let shuttingDown = try await get("/-/ready").status
        XCTAssertEqual(shuttingDown, 503)
        let scrape = try await get("/metrics").status
        XCTAssertEqual(scrape, 200, "scrapes go on while not ready")
    }

    func testHeadMethodNotAllowedNotFoundAndHealth() async throws {
        try await start()
        let head = try await get("/metrics", method: "HEAD")
        XCTAssertEqual(head.status, 200)
        XCTAssertTrue(head.body.isEmpty)
        XCTAssertNotEqual(head.header("Content-Length"), "0")
        let post = try await get("/metrics", method: "POST")
        XCTAssertEqual(post.status, 405)
        XCTAssertEqual(post.header("Allow"), "GET, HEAD")
        let status1 = try await get("/nope").status
        XCTAssertEqual(status1, 404)
        let status2 = try await get("/-/healthy").status
        XCTAssertEqual(status2, 200)
        let status3 = try await get("/-/ready").status
        XCTAssertEqual(status3, 200)
        let landing = try await get("/")
        XCTAssertTrue(String(decoding: landing.body, as: UTF8.self).contains("href=\"/metrics\""))
        let text = registry.renderString()
        XCTAssertTrue(text.contains("vigil_http_requests_total{path=\"/metrics\",code=\"405\"} 1\n"), text)
        XCTAssertTrue(text.contains("vigil_http_requests_total{path=\"other\",code=\"404\"} 1\n"), text)
    }

    func testOversizedAndMalformedRequestsNeverCrashTheServer() async throws {
        try await start { $0.maxHeaderBytes = 4096 }
        let port = server.localPort
        let huge = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 10_000) + "\r\n\r\n"
        XCTAssertTrue(try RawSocket.exchange(port: port, huge).hasPrefix("HTTP/1.1 431"))
        let garbage = try RawSocket.exchange(port: port, "\u{01}\u{02} NOT HTTP AT ALL\r\n\r\n")
        XCTAssertTrue(garbage.isEmpty || garbage.hasPrefix("HTTP/1.1 400"), garbage)
        let badVersion = try RawSocket.exchange(port: port, "GET /metrics HTTP/9.9\r\n\r\n")
        XCTAssertFalse(badVersion.hasPrefix("HTTP/1.1 200"), badVersion)
        _ = try RawSocket.exchange(port: port, "GET /metr")  // a half request, then the client leaves
        // Still serving.
        let status8 = try await get("/metrics").status
        XCTAssertEqual(status8, 200)
    }

    func testConcurrentScrapesAllSucceed() async throws {
        try await start()
        let family = try registry.gauge("big", help: "Many series.", labelNames: ["i"])
        for i in 0..<5_000 { family.labels(String(i)).set(Double(i)) }
        let url = base + "/metrics"
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    let r = try await HTTPClient(maximumBodyBytes: 16 << 20).send(HTTPRequest(method: "GET", url: url))
                    XCTAssertTrue(String(decoding: r.body, as: UTF8.self).contains("big{i=\"4999\"} 4999\n"))
                    return r.status
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        XCTAssertEqual(results, Array(repeating: 200, count: 8))
    }

    func testBase64RoundTripsBasicCredentials() {
        XCTAssertEqual(Base64.encode(Array("a/b".utf8), urlSafe: true), "YS9i")
        XCTAssertEqual(Base64.decode("cHJvbTpwYTpzcw=="), Array("prom:pa:ss".utf8))
    }
}

/// Plain TCP for requests an HTTP client would refuse to send.
enum RawSocket {
    static func exchange(port: Int, _ request: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw NSError(domain: "connect", code: Int(errno)) }
        _ = request.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
        shutdown(fd, Int32(SHUT_WR))
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            response += buffer[..<n]
        }
        return String(decoding: response, as: UTF8.self)
    }
}

/// What a readiness closure reads, set by the test.
final class ReadinessBox: @unchecked Sendable {
    private let lock = NSLock()
    private var reason: String?
    var value: String? {
        get { lock.withLock { reason } }
        set { lock.withLock { reason = newValue } }
    }
}
