import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Blocking TCP clients on loopback that choose their source address (any of 127/8), for tests
/// that need many clients, or clients that misbehave, which no HTTP client would be.
enum Loopback {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// A connected socket from `source` to 127.0.0.1:`port`, with 5 s send and receive timeouts.
    static func connect(port: Int, from source: String) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        var remote = local
        remote.sin_addr.s_addr = inet_addr("127.0.0.1")
        remote.sin_port = in_port_t(UInt16(port).bigEndian)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        let connected = bound == 0 ? withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } : -1
        guard connected == 0 else {
            let error = errno
            close(fd)
            throw Failure(description: "connect from \(source) to port \(port): errno \(error)")
        }
        return fd
    }

    static func send(_ fd: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send: errno \(errno)") }
            sent += n
        }
    }

    /// Whatever arrives within `timeout` seconds (empty when the peer closed).
    static func receive(_ fd: Int32, timeout: Int) throws -> [UInt8] {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout * 1000)) == 1 else { throw Failure(description: "nothing arrived in \(timeout) s") }
        var buffer = [UInt8](repeating: 0, count: 16384)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? Array(buffer[..<n]) : []
    }

    /// Whether the peer has closed the connection (without waiting).
    static func peerClosed(_ fd: Int32) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 0) == 1 else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) <= 0
    }

    /// Reads one response (its head, then `Content-Length` bytes of body); its status.
    static func readResponse(_ fd: Int32, timeout: Int = 5) throws -> (status: Int, head: String) {
        var data: [UInt8] = []
        while true {
            if let end = data.indices.dropLast(3).first(where: { data[$0] == 13 && data[$0 + 1] == 10 && data[$0 + 2] == 13 && data[$0 + 3] == 10 }) {
                let head = String(decoding: data[..<end], as: UTF8.self)
                let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                while data.count < end + 4 + length {
                    let more = try receive(fd, timeout: timeout)
                    guard !more.isEmpty else { break }
                    data += more
                }
                let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
                return (status, head)
            }
            let more = try receive(fd, timeout: timeout)
            guard !more.isEmpty else { throw Failure(description: "closed before a whole response head: \(String(decoding: data, as: UTF8.self))") }
            data += more
        }
    }

    /// One `GET` on its own connection from `source`: the status (0 when the connection was closed
    /// without an answer) and how long it took.
    static func request(port: Int, from source: String, path: String, authorization: String? = nil,
                        timeout: Int = 5) throws -> (status: Int, elapsed: Duration) {
        let started = ContinuousClock.now
        let fd = try connect(port: port, from: source)
        defer { close(fd) }
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if let authorization { request += "Authorization: \(authorization)\r\n" }
        try send(fd, Array((request + "\r\n").utf8))
        let status = (try? readResponse(fd, timeout: timeout).status) ?? 0
        return (status, started.duration(to: .now))
    }

    /// A TLS 1.2 ClientHello (ECDHE-ECDSA and ECDHE-RSA with AES-GCM, P-256 and X25519), for a
    /// client that starts a handshake and never finishes it.
    static let clientHello: [UInt8] = {
        let ciphers: [UInt8] = [0xc0, 0x2b, 0xc0, 0x2c, 0xc0, 0x2f, 0xc0, 0x30]
        func ext(_ type: UInt16, _ body: [UInt8]) -> [UInt8] { be16(type) + be16(body.count) + body }
        let extensions = ext(0x000a, be16(4) + [0x00, 0x17, 0x00, 0x1d])  // supported_groups
            + ext(0x000b, [1, 0])  // ec_point_formats: uncompressed
            + ext(0x000d, be16(6) + [0x04, 0x03, 0x08, 0x04, 0x04, 0x01])  // signature_algorithms
        var hello: [UInt8] = [0x03, 0x03] + Array(repeating: 0x42, count: 32) + [0]  // version, random, no session
        hello += be16(ciphers.count) + ciphers + [1, 0]  // cipher suites, null compression
        hello += be16(extensions.count) + extensions
        let handshake: [UInt8] = [1, 0, UInt8(hello.count >> 8), UInt8(hello.count & 0xff)] + hello
        return [0x16, 0x03, 0x01] + be16(handshake.count) + handshake
    }()

    private static func be16<T: BinaryInteger>(_ value: T) -> [UInt8] { [UInt8(truncatingIfNeeded: Int(value) >> 8), UInt8(truncatingIfNeeded: Int(value))] }
}
