import VigilSupport

/// A one-slot doorbell between threads and one waiting task: `ring()` never blocks and never
/// suspends; `wait(timeout:)` returns at the first ring (or one that came before it) or when the
/// time is up.
final class Wakeup: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
        var cancelled = false
    }

    private let state = Locked(State())

    func ring() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.rung = true
            return nil
        }
        waiter?.resume()
    }

    /// Waits for a ring or for `timeout`, whichever comes first.
    /// A ring the timer makes on time-out may be left over for the next wait, which then
    /// returns early once: harmless for a loop that re-checks its state on every round.
    func wait(timeout: Duration) async {
        let timer = Task { [self] in
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { ring() }
        }
        await waitForRing()
        timer.cancel()
    }

    private func waitForRing() async {
        state.withLock { $0.cancelled = false }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.rung || state.cancelled {
                        state.rung = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
                state.cancelled = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
