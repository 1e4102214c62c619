import NIOCore
import NIOPosix
import Synchronization

/// Where bcrypt runs: a few threads of its own, never the event loop nor the queue scrapes render
/// on, with a bounded queue. A check past the bound is refused at once (the request gets 503)
/// instead of waiting behind others, so a flood of wrong passwords costs at most `threads` cores
/// and never delays a scrape whose credentials are cached.
final class PasswordCheckPool: Sendable {
    private let pool: NIOThreadPool
    /// Checks queued or running.
    private let pendingChecks = Atomic<Int>(0)
    let maxPending: Int

    init(threads: Int, maxPending: Int) {
        pool = NIOThreadPool(numberOfThreads: max(1, threads))
        self.maxPending = max(1, maxPending)
        pool.start()
    }

    /// Runs `check` on a pool thread and completes on `loop` with its answer; nil (nothing run)
    /// when `maxPending` checks are already queued or running.
    func submit(on loop: any EventLoop, _ check: @escaping @Sendable () -> Bool) -> EventLoopFuture<Bool>? {
        guard pendingChecks.wrappingAdd(1, ordering: .relaxed).newValue <= maxPending else {
            pendingChecks.wrappingSubtract(1, ordering: .relaxed)
            return nil
        }
        let result = pool.runIfActive(eventLoop: loop, check)
        result.whenComplete { [self] _ in pendingChecks.wrappingSubtract(1, ordering: .relaxed) }
        return result
    }

    /// Checks queued or running now.
    var pending: Int { pendingChecks.load(ordering: .relaxed) }

    /// Stops the threads once the queued checks have run.
    func shutdown() async {
        try? await pool.shutdownGracefully()
    }
}
