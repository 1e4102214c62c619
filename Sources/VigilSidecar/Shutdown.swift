import ServiceLifecycle
import VigilSupport

/// One graceful shutdown's clock and state: when it began, how long it may take in all, and
/// whether it has begun (then `/-/ready` answers 503, so that an orchestrator stops sending
/// traffic while the last push and the span flush finish). Every service's last act gets what is
/// left of `grace`, not a grace of its own, so that the whole shutdown ends within it.
final class ShutdownState: Sendable {
    let grace: Duration
    private let began = Locked<Duration?>(nil)

    init(grace: Duration) {
        self.grace = grace
    }

    /// Starts the clock; later calls change nothing.
    func begin() {
        began.withLock { if $0 == nil { $0 = SystemClock.monotonic() } }
    }

    var hasBegun: Bool { began.withLock { $0 != nil } }

    /// What is left of the grace period: all of it before the shutdown, never below zero.
    var remaining: Duration {
        guard let began = began.withLock({ $0 }) else { return grace }
        let left = began + grace - SystemClock.monotonic()
        return left > .zero ? left : .zero
    }
}

/// Listed last, so the first to hear of a graceful shutdown: starts the shutdown clock and turns
/// readiness off before the other services begin to stop.
struct ShutdownMarker: Service {
    let state: ShutdownState

    func run() async throws {
        try? await gracefulShutdown()
        state.begin()
    }
}
