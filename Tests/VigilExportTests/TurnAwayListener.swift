import Foundation

/// A loopback port whose every connection is reset as soon as it is accepted: a receiver that is
/// down, but one that tells the test how many attempts it turned away.
final class TurnAwayListener {
    let port: Int
    private var fd: Int32
    private var turnedAway = 0

    init() throws {
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
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Resets every connection waiting to be accepted, and returns how many it has reset in all.
    func turnAway() -> Int {
        while fd >= 0 {
            let connection = accept(fd, nil, nil)
            guard connection >= 0 else { break }
            var reset = linger(l_onoff: 1, l_linger: 0)  // close with RST: the client sees the connection fail
            setsockopt(connection, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
            close(connection)
            turnedAway += 1
        }
        return turnedAway
    }

    /// Stops listening: from now on connections to the port are refused.
    func stop() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
    }

    deinit { stop() }
}
