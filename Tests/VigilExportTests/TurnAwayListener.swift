import Foundation
import VigilTestSupport

/// A loopback port whose every connection is reset as soon as it is accepted: a receiver that is
/// down, but one that tells the test how many attempts it turned away.
final class TurnAwayListener {
    let port: Int
    private var fd: Int32
    private var turnedAway = 0

    init() throws {
        (fd, port) = try listenOnLoopback()
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
