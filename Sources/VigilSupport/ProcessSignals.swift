#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CVigilSystem

/// Signals sent through a pidfd (pidfd_open(2), pidfd_send_signal(2)): the descriptor names one
/// process for as long as it is open, so a pid the kernel hands to another process meanwhile
/// cannot receive the signal.
package enum ProcessSignals {
    /// A pidfd for `pid`, or the errno: `ENOSYS` on kernels before 5.3 (or where seccomp forbids
    /// it), `ESRCH` when the process is gone.
    package static func openPIDFD(_ pid: Int32) -> Result<Int32, Errno> {
        let fd = vigil_pidfd_open(pid)
        return fd >= 0 ? .success(fd) : .failure(Errno(errno))
    }

    /// Sends `signal` through `pidfd`: 0, or the errno (`ESRCH` once that process has exited).
    package static func send(_ signal: Int32, through pidfd: Int32) -> Int32 {
        vigil_pidfd_send_signal(pidfd, signal) == 0 ? 0 : errno
    }

    /// An errno value as an error.
    package struct Errno: Error, Equatable {
        package var code: Int32
        package init(_ code: Int32) { self.code = code }
    }
}
