#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a process ended, as its parent learns from waitpid(2) (or Foundation's
/// `Process.terminationReason` and `terminationStatus`).
public enum ExitStatus: Sendable, Equatable {
    /// It called exit(2) with this status.
    case exited(Int32)
    /// A signal ended it.
    case signalled(Int32)

    /// Decodes the raw status waitpid(2) stores, as the `WIFEXITED`/`WEXITSTATUS`/`WIFSIGNALED`/
    /// `WTERMSIG` macros of `<sys/wait.h>` do (Swift cannot import them). Nil when the status
    /// says the process stopped or continued: it has not ended.
    public init?(waitStatus: Int32) {
        let low = waitStatus & 0x7f
        if low == 0 {
            self = .exited((waitStatus >> 8) & 0xff)
        } else if low != 0x7f, waitStatus != 0xffff {
            self = .signalled(low)  // the 0x80 bit only says a core was dumped
        } else {
            return nil
        }
    }

    /// The `reason` label of `vigil_plugin_process_exits_total`: `exited` for status 0,
    /// `failed` for any other, `signal_<name>` for the signals that usually end a plugin, and
    /// `signal_other` for the rest. Every value is one of `VigilMetric.Values.exitReason`.
    public var reason: String {
        switch self {
        case .exited(let code): code == 0 ? "exited" : "failed"
        case .signalled(let signal): Self.signalReasons[signal] ?? "signal_other"
        }
    }

    private static let signalReasons: [Int32: String] = [
        SIGTERM: "signal_term", SIGKILL: "signal_kill", SIGINT: "signal_int", SIGHUP: "signal_hup",
        SIGSEGV: "signal_segv", SIGABRT: "signal_abrt", SIGBUS: "signal_bus", SIGILL: "signal_ill", SIGFPE: "signal_fpe",
    ]

    /// The reason of exits that only a sample noticed: the process was there, then it was not.
    static let unknownReason = "unknown"
}
