import Synchronization

/// Runs `operation` and returns its result, or nil once `timeout` has passed, whichever comes
/// first. At the deadline the operation is cancelled and abandoned: this returns at once and
/// does not wait for it to notice, so a caller with a deadline (a shutdown, an export time-out)
/// keeps it however the operation behaves. If the calling task is cancelled, this returns nil at
/// once too.
///
/// The one timeout race in Vigil: the batch processor's export time-out and shutdown deadline
/// and the wake-up doorbell all go through it.
public func withDeadline<T: Sendable>(
    _ timeout: Duration, _ operation: @escaping @Sendable () async -> T
) async -> T? {
    let race = FirstResult<T>()
    let work = Task { race.finish(await operation()) }
    let timer = Task {
        try? await Task.sleep(for: timeout)
        race.finish(nil)
    }
    let result = await withTaskCancellationHandler {
        await race.value()
    } onCancel: {
        race.finish(nil)
    }
    work.cancel()
    timer.cancel()
    return result
}

/// A one-shot result that the first of several racers sets; later ones are ignored.
private final class FirstResult<T: Sendable>: Sendable {
    private struct State {
        var result: T??
        var waiter: CheckedContinuation<T?, Never>?
    }

    private let state = Locked(State())

    func finish(_ value: T?) {
        let waiter: CheckedContinuation<T?, Never>? = state.withLock { state in
            guard state.result == nil else { return nil }
            state.result = .some(value)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: value)
    }

    func value() async -> T? {
        await withCheckedContinuation { continuation in
            let ready: T?? = state.withLock { state in
                if let result = state.result { return .some(result) }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// Runs `operation` in a task of its own, cancels it once `timeout` has passed, and returns what
/// it returns once it has noticed: for work that must end cleanly (a transfer that aborts on
/// cancellation and counts its failure) rather than be abandoned as `withDeadline` does. The
/// caller's own cancellation does not reach the operation: a shutdown's last push runs in a task
/// that has just been cancelled.
public func withCancellation<T: Sendable>(after timeout: Duration, _ operation: @escaping @Sendable () async -> T) async -> T {
    let work = Task { await operation() }
    let timer = Task {
        try? await Task.sleep(for: timeout)
        if !Task.isCancelled { work.cancel() }
    }
    let result = await work.value
    timer.cancel()
    return result
}
