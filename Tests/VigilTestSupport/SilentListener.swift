import Foundation

/// A loopback port that accepts connections and reads what comes, but never answers: a
/// collector that hangs. It tells the test what it has read and how many connections the other
/// side has closed. Nothing runs in the background: `pump()` does the work when a test looks.
public final class SilentListener {
    public let port: Int
    private var fd: Int32
    private var connections: [Int32] = []
    /// Everything read, from every connection, in order.
    public private(set) var received: [UInt8] = []
    /// Connections accepted so far.
    public private(set) var accepted = 0
    /// Connections the client has closed (a read saw the end).
    public private(set) var closedByClient = 0

    public init() throws {
        (fd, port) = try listenOnLoopback()
    }

    /// Accepts the connections waiting and reads what has arrived on each, without waiting.
    public func pump() {
        while fd >= 0 {
            let connection = accept(fd, nil, nil)
            guard connection >= 0 else { break }
            _ = fcntl(connection, F_SETFL, fcntl(connection, F_GETFL) | O_NONBLOCK)
            connections.append(connection)
            accepted += 1
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        connections.removeAll { connection in
            while true {
                let n = recv(connection, &buffer, buffer.count, 0)
                if n > 0 { received += buffer[..<n]; continue }
                if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    closedByClient += 1
                    close(connection)
                    return true
                }
                return false
            }
        }
    }

    /// What has been read, as text.
    public var text: String { String(decoding: received, as: UTF8.self) }

    public func stop() {
        connections.forEach { close($0) }
        connections = []
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { stop() }
}

/// A non-blocking socket listening on 127.0.0.1 at a free port: the descriptor and the port.
public func listenOnLoopback() throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw NSError(domain: "socket", code: Int(errno)) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let listening = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
            guard bind(fd, pointer, length) == 0, listen(fd, 64) == 0 else { return -1 }
            return getsockname(fd, pointer, &length)
        }
    }
    guard listening == 0, fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0 else {
        let error = errno
        close(fd)
        throw NSError(domain: "listen", code: Int(error))
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}
