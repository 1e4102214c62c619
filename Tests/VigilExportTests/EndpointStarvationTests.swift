import Foundation
import Synchronization
import VigilMetrics
import VigilSupport
import VigilTestSupport
import XCTest
@testable import VigilExport

/// One client cannot starve the endpoint for another: half-open connections, slow heads, stalled
/// TLS handshakes and floods of wrong passwords, from real sockets on loopback (the whole 127/8 is
/// loopback on Linux, so 127.0.0.2 is a second client address).
final class EndpointStarvationTests: XCTestCase {
    var server: MetricsServer?
    var registry: Registry!
    var pki: TestPKI?
    var sockets: [Int32] = []

    override func tearDown() async throws {
        for fd in sockets { close(fd) }
        sockets = []
        try await server?.stop()
        pki?.remove()
    }

    func start(_ configure: (inout MetricsServer.Configuration) -> Void) async throws -> Int {
        registry = Registry()
        try registry.counter("demo_requests_total", help: "Requests.").inc()
        var configuration = MetricsServer.Configuration()
        configuration.port = 0
        configure(&configuration)
        let server = try await MetricsServer.start(registry: registry, configuration: configuration)
        self.server = server
        return server.localPort
    }

    /// A series' value in the registry now (0 when absent).
    func sample(_ series: String) -> Double {
        exposedSamples(registry.render(.text))[series] ?? 0
    }

    /// Opens `count` connections from 127.0.0.1 that send `hello` (nothing by default) and then
    /// nothing more, and waits until the server has taken or refused every one.
    func openHalfOpen(_ count: Int, port: Int, hello: [UInt8] = []) async throws {
        let server = try XCTUnwrap(self.server)
        let before = sample(#"vigil_http_rejected_connections_total{limit="per_client"}"#)
        for _ in 0..<count {
            let fd = try Loopback.connect(port: port, from: "127.0.0.1")
            sockets.append(fd)
            // A refused one may be closed already: its send fails, which is fine.
            if !hello.isEmpty { try? Loopback.send(fd, hello) }
        }
        let perClient = server.configuration.maxConnectionsPerClient
        try await waitUntil("the server to take \(perClient) connections and refuse the rest") {
            server.connections.open == perClient
                && sample(#"vigil_http_rejected_connections_total{limit="per_client"}"#) - before == Double(count - perClient)
        }
    }

    // MARK: Connection limits and deadlines

    func testHalfOpenConnectionsFromOneAddressLeaveAScrapeFromAnotherServedAndTheirOwnAfterTheDeadline() async throws {
        let port = try await start { $0.requestHeadTimeout = .seconds(3) }
        try await openHalfOpen(200, port: port)

        let other = try Loopback.request(port: port, from: "127.0.0.2", path: "/metrics")
        XCTAssertEqual(other.status, 200)
        XCTAssertLessThan(other.elapsed, .seconds(2))

        // The same address is at its limit until the head deadline closes its idle connections.
        try await waitUntil(timeout: .seconds(15), "a scrape from the flooding address to be served after the deadline") {
            (try? Loopback.request(port: port, from: "127.0.0.1", path: "/metrics", timeout: 1).status) == 200
        }
        try await waitUntil("every idle connection to be counted as closed at its deadline") {
            sample(#"vigil_http_timed_out_connections_total{stage="request_head"}"#) == 32
        }
    }

    func testAHeadTrickledAByteAtATimeIsClosedAtTheHeadDeadline() async throws {
        let port = try await start { $0.requestHeadTimeout = .seconds(1) }
        let fd = try Loopback.connect(port: port, from: "127.0.0.1")
        sockets.append(fd)
        let started = ContinuousClock.now
        var closed = false
        // One byte every 100 ms would keep the idle timeout away forever.
        for byte in Array("GET /metrics HTTP/1.1\r\nX-Slow: ".utf8) + Array(repeating: UInt8(ascii: "a"), count: 200) {
            if (try? Loopback.send(fd, [byte])) == nil || Loopback.peerClosed(fd) { closed = true; break }
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertTrue(closed, "the connection outlived its head deadline")
        XCTAssertLessThan(started.duration(to: .now), .seconds(8))
        XCTAssertEqual(sample(#"vigil_http_timed_out_connections_total{stage="request_head"}"#), 1)
    }

    func testStalledTLSHandshakesFromOneAddressLeaveAnHTTPSScrapeFromAnotherServed() async throws {
        let pki = try TestPKI()
        self.pki = pki
        for hello in [[], Loopback.clientHello] {
            let port = try await start {
                $0.web.tls = WebConfig.TLS(certificate: .file(pki.serverCertificate), privateKey: .file(pki.serverKey))
                $0.tlsHandshakeTimeout = .seconds(3)
            }
            try await openHalfOpen(200, port: port, hello: hello)
            if !hello.isEmpty {
                // The server got as far as its ServerHello, and now waits for the client.
                XCTAssertEqual(try Loopback.receive(sockets[0], timeout: 5).first, 0x16, "a TLS handshake record")
            }
            let scrape = try Command.run(["curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                                          "--cacert", pki.caCertificate, "--interface", "127.0.0.2", "https://127.0.0.1:\(port)/metrics"])
            let parts = scrape.standardOutput.split(separator: " ")
            XCTAssertEqual(parts.first, "200", "ClientHello sent: \(!hello.isEmpty); \(scrape.standardError)")
            XCTAssertLessThan(Double(parts.last ?? "") ?? 99, 2, "ClientHello sent: \(!hello.isEmpty)")

            try await waitUntil(timeout: .seconds(15), "the stalled handshakes to be closed at their deadline") {
                self.sample(#"vigil_http_timed_out_connections_total{stage="tls_handshake"}"#) == 32
            }
            for fd in sockets { close(fd) }
            sockets = []
            try await server?.stop()
            server = nil
        }
    }

    // MARK: Header size on every request

    func testEveryRequestOfAKeepAliveConnectionIsHeldToTheHeaderLimit() async throws {
        let port = try await start { $0.maxHeaderBytes = 16 * 1024 }
        let fd = try Loopback.connect(port: port, from: "127.0.0.1")
        sockets.append(fd)
        try Loopback.send(fd, Array("GET /-/healthy HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
        XCTAssertEqual(try Loopback.readResponse(fd).status, 200)
        // A body skipped by its length, so that its bytes are not taken for the next head.
        let body = String(repeating: "b", count: 20 * 1024)
        try Loopback.send(fd, Array("POST /-/reload HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8))
        XCTAssertEqual(try Loopback.readResponse(fd).status, 403)
        try Loopback.send(fd, Array("GET /-/healthy HTTP/1.1\r\nHost: a\r\nX-Big: \(String(repeating: "x", count: 40 * 1024))\r\n\r\n".utf8))
        XCTAssertEqual(try Loopback.readResponse(fd).status, 431)
    }

    // MARK: Passwords

    /// A bcrypt hash of `password`, by htpasswd, at `cost`.
    static func htpasswd(_ password: String, cost: Int) throws -> String {
        let result = try Command.run(["htpasswd", "-nbBC", String(cost), "", password])
        guard result.status == 0 else { throw HarnessError("htpasswd: \(result.standardError)") }
        return result.standardOutput.trimmingCharacters(in: CharacterSet(charactersIn: ":\n"))
    }

    /// The names of the threads bcrypt ran on.
    final class Threads: Sendable {
        let names = Mutex<[String: Int]>([:])
        func record() {
            // The calling thread's name, as pthread_setname_np set it.
            let name = ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            names.withLock { $0[name, default: 0] += 1 }
        }
    }

    func testAFloodOfWrongPasswordsNeitherBlocksTheLoopNorDelaysTheRightPassword() async throws {
        let hash = try Self.htpasswd("right", cost: 10)
        let threads = Threads()
        let port = try await start {
            $0.web.basicAuthUsers = ["prometheus": hash]
            $0.web.unauthenticatedProbes = true
            $0.passwordVerifier = { password, hash in
                threads.record()
                return ScrapeAuthentication.bcrypt(password, hash)
            }
        }
        let right = "Basic " + Base64.encode(Array("prometheus:right".utf8))
        let wrong = "Basic " + Base64.encode(Array("prometheus:wrong".utf8))
        // Cached from the flooding address before the flood: the right password stays fast there.
        XCTAssertEqual(try Loopback.request(port: port, from: "127.0.0.1", path: "/metrics", authorization: right).status, 200)

        // Up to 1,000 wrong passwords a second from 127.0.0.1, for 2.5 s, from four keep-alive
        // clients (a new connection when the server closes one).
        let flood = Flood()
        let request = Array("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: \(wrong)\r\n\r\n".utf8)
        let attackers = (0..<4).map { _ in
            Thread {
                let end = ContinuousClock.now + .milliseconds(2500)
                var next = ContinuousClock.now
                var fd: Int32 = -1
                while ContinuousClock.now < end {
                    if fd < 0 { fd = (try? Loopback.connect(port: port, from: "127.0.0.1")) ?? -1 }
                    var status = 0
                    if fd >= 0, (try? Loopback.send(fd, request)) != nil, let answer = try? Loopback.readResponse(fd, timeout: 3) {
                        status = answer.status
                    } else if fd >= 0 {
                        close(fd)
                        fd = -1
                    }
                    flood.record(status)
                    next = next + .milliseconds(4)
                    let pause = ContinuousClock.now.duration(to: next)
                    if pause > .zero { Thread.sleep(forTimeInterval: pause.seconds) }
                }
                if fd >= 0 { close(fd) }
                flood.finished()
            }
        }
        attackers.forEach { $0.start() }
        try await waitUntil("the flood to be throttled") { flood.count(429) > 0 }

        let fresh = try Loopback.request(port: port, from: "127.0.0.2", path: "/metrics", authorization: right)
        XCTAssertEqual(fresh.status, 200, "the right password from another address, checked by bcrypt during the flood")
        XCTAssertLessThan(fresh.elapsed, .seconds(2))
        let cached = try Loopback.request(port: port, from: "127.0.0.1", path: "/metrics", authorization: right)
        XCTAssertEqual(cached.status, 200, "the right password from the flooding address itself, from the cache")
        XCTAssertLessThan(cached.elapsed, .seconds(2))
        let probe = try Loopback.request(port: port, from: "127.0.0.3", path: "/-/healthy")
        XCTAssertEqual(probe.status, 200, "an unauthenticated probe on the same event loop")
        XCTAssertLessThan(probe.elapsed, .seconds(2))

        try await waitUntil(timeout: .seconds(20), "the flood to end") { flood.done == 4 }
        let attempts = flood.total
        print("flood: \(attempts) wrong passwords in 2.5 s, answered \(flood.statuses()); bcrypt ran on \(threads.names.withLock { $0 })")
        XCTAssertGreaterThan(attempts, 500, "the flood was a flood")
        let ran = threads.names.withLock { $0 }
        XCTAssertTrue(ran.keys.allSatisfy { !$0.hasPrefix("NIO-ELT") }, "bcrypt ran on an event loop: \(ran)")
        XCTAssertLessThan(ran.values.reduce(0, +), attempts / 10, "throttled addresses run no bcrypt")
        XCTAssertGreaterThan(sample(#"vigil_http_auth_failures_total{reason="throttled"}"#), 0)
        XCTAssertGreaterThan(sample(#"vigil_http_auth_failures_total{reason="wrong_credentials"}"#), 0)
    }

    func testTheBcryptQueueIsBoundedAndAFullOneAnswers503AtOnce() async throws {
        let gate = Gate()
        let port = try await start {
            $0.web.basicAuthUsers = ["prometheus": WebConfigServerTests.fixedHash]
            $0.passwordCheckThreads = 1
            $0.maxPendingPasswordChecks = 2
            $0.passwordVerifier = { _, _ in gate.wait(); return false }
        }
        let wrong = "Basic " + Base64.encode(Array("prometheus:wrong".utf8))
        // Two checks held in the pool, from two addresses (so that no back-off interferes).
        let held = (2...3).map { i in
            Thread { _ = try? Loopback.request(port: port, from: "127.0.0.\(i)", path: "/metrics", authorization: wrong, timeout: 10) }
        }
        held.forEach { $0.start() }
        let server = try XCTUnwrap(self.server)
        try await waitUntil("two checks to be pending, one running and one queued") { gate.waiting == 1 && server.passwords.pending == 2 }
        let third = try Loopback.request(port: port, from: "127.0.0.4", path: "/metrics", authorization: wrong)
        XCTAssertEqual(third.status, 503)
        gate.open()
        XCTAssertEqual(sample(#"vigil_http_auth_failures_total{reason="busy"}"#), 1)
    }

    func testAnAddressBackedOffIsAnswered429WithoutBcryptAndTheRightPasswordClearsIt() {
        let clock = Box(100.0)
        let throttle = AuthFailureThrottle(allowedFailures: 3, initialWindow: .seconds(1), maxWindow: .seconds(8), now: { clock.value.withLock { $0 } })
        for _ in 0..<2 { throttle.failed("a") }
        XCTAssertNil(throttle.blocked("a"), "below the allowance")
        throttle.failed("a")
        XCTAssertEqual(throttle.blocked("a"), 1)
        XCTAssertNil(throttle.blocked("b"), "other addresses are not affected")
        clock.value.withLock { $0 += 1 }
        throttle.failed("a")
        XCTAssertEqual(throttle.blocked("a"), 2, "the window doubles")
        for _ in 0..<10 { throttle.failed("a") }
        XCTAssertEqual(throttle.blocked("a"), 8, "up to the longest")
        throttle.succeeded("a")
        XCTAssertNil(throttle.blocked("a"))
    }

    // MARK: The web config file

    func testAChangedWebConfigFileAddsAUserWithoutARestartAndABadOneKeepsThePrevious() async throws {
        let directory = NSTemporaryDirectory() + "vigil-web-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/web.yml"
        let alice = try Self.htpasswd("a-secret", cost: 4), bob = try Self.htpasswd("b-secret", cost: 4)
        /// Writes the file as an editor or a ConfigMap update does: a new file renamed over it.
        func write(_ text: String) throws {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path + ".new"))
            XCTAssertEqual(rename(path + ".new", path), 0)
        }
        try write("alice: \(alice)\n")
        let box = Box<[String]>([])
        let initial = try UserList.load(path)
        let port = try await start {
            $0.web = initial
            $0.webConfigFile = MetricsServer.WebConfigSource(path: path, load: UserList.load) { outcome in
                if case .failure(let error) = outcome { box.value.withLock { $0.append("\(error)") } }
            }
        }
        func status(_ user: String, _ password: String) throws -> Int {
            try Loopback.request(port: port, from: "127.0.0.1", path: "/metrics",
                                 authorization: "Basic " + Base64.encode(Array("\(user):\(password)".utf8))).status
        }
        XCTAssertEqual(try status("alice", "a-secret"), 200)
        XCTAssertEqual(try status("bob", "b-secret"), 401)
        XCTAssertEqual(sample("vigil_web_config_last_reload_successful"), 1)

        try write("alice: \(alice)\nbob: \(bob)\n")
        XCTAssertEqual(try status("bob", "b-secret"), 200, "the added user, on the next request")

        try write("alice: not-a-hash\n")
        XCTAssertEqual(try status("bob", "b-secret"), 200, "a bad file keeps the previous config")
        XCTAssertEqual(sample("vigil_web_config_last_reload_successful"), 0)
        XCTAssertEqual(box.value.withLock { $0.count }, 1, "reported once, not on every request")
        XCTAssertTrue(box.value.withLock { $0.first ?? "" }.contains("web.yml changed but was not applied"), "\(box.value.withLock { $0 })")

        try write("bob: \(bob)\n")
        XCTAssertEqual(try status("alice", "a-secret"), 401, "a removed user is refused at once, cached or not")
        XCTAssertEqual(sample("vigil_web_config_last_reload_successful"), 1)
    }

    func testProbesNeedNoCredentialsOnlyWhenTheWebConfigSaysSo() async throws {
        for open in [false, true] {
            let port = try await start {
                $0.web.basicAuthUsers = ["prometheus": WebConfigServerTests.fixedHash]
                $0.web.unauthenticatedProbes = open
            }
            for path in ["/-/healthy", "/-/ready"] {
                XCTAssertEqual(try Loopback.request(port: port, from: "127.0.0.1", path: path).status, open ? 200 : 401, "\(path), open: \(open)")
            }
            XCTAssertEqual(try Loopback.request(port: port, from: "127.0.0.1", path: "/metrics").status, 401)
            try await server?.stop()
            server = nil
        }
    }
}

extension WebConfigServerTests {
    /// A cost-4 bcrypt hash of "right" (`htpasswd -nbBC 4 "" right`).
    static let fixedHash = "$2y$04$xyXiENCyGtI1aIyDOYLRxO13n5bMmnmKxtZqIPyG0N6yDpUDgWLwq"
}

/// A web config of `user: hash` lines, for the reload test (the sidecar reads real web.yml files
/// with `WebConfigFile`; here only the reloading is under test).
enum UserList {
    static func load(_ path: String) throws -> WebConfig {
        var web = WebConfig()
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { throw HarnessError("\(path): not user: hash: \(line)") }
            web.basicAuthUsers[parts[0]] = parts[1]
        }
        try web.validate()
        return web
    }
}

/// What a flood of requests was answered.
final class Flood: Sendable {
    private let state = Mutex<(statuses: [Int: Int], done: Int)>(([:], 0))
    func record(_ status: Int) { state.withLock { $0.statuses[status, default: 0] += 1 } }
    func finished() { state.withLock { $0.done += 1 } }
    func count(_ status: Int) -> Int { state.withLock { $0.statuses[status] ?? 0 } }
    func statuses() -> [Int: Int] { state.withLock { $0.statuses } }
    var total: Int { state.withLock { $0.statuses.values.reduce(0, +) } }
    var done: Int { state.withLock { $0.done } }
}

/// Holds bcrypt checks (on the pool's threads) until the test opens it.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiting: Int)>((false, 0))
    var waiting: Int { state.withLock { $0.waiting } }
    func wait() {
        state.withLock { $0.waiting += 1 }
        while !state.withLock({ $0.open }) { usleep(5000) }
    }
    func open() { state.withLock { $0.open = true } }
}

/// A value shared with a closure the server keeps.
final class Box<T: Sendable>: Sendable {
    let value: Mutex<T>
    init(_ value: T) { self.value = Mutex(value) }
}
