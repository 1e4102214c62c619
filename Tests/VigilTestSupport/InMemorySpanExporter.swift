import Synchronization
import VigilTracing

/// Keeps every exported batch in memory, in the order the processor handed them over.
///
/// Thread-safe. `hold()` makes exports wait until `release()`, for tests that need an exporter
/// which stays busy for exactly as long as they say (to fill a queue behind it, say).
public final class InMemorySpanExporter: SpanExporter {
    private struct State {
        var batches: [[SpanData]] = []
        var held = false
        var waiting: [CheckedContinuation<Void, Never>] = []
        var shutDown = false
    }

    private let state = Mutex(State())

    public init() {}

    public func export(_ batch: [SpanData]) async -> SpanExportResult {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let passes = state.withLock { state in
                if state.held { state.waiting.append(continuation) }
                return !state.held
            }
            if passes { continuation.resume() }
        }
        state.withLock { $0.batches.append(batch) }
        return .success
    }

    public func shutdown() async {
        state.withLock { $0.shutDown = true }
    }

    /// Makes every export from now on wait for `release()`.
    public func hold() {
        state.withLock { $0.held = true }
    }

    /// Lets the exports that wait, and every later one, through.
    public func release() {
        let waiting = state.withLock { state in
            state.held = false
            defer { state.waiting.removeAll() }
            return state.waiting
        }
        waiting.forEach { $0.resume() }
    }

    /// How many exports wait for `release()` now.
    public var heldExports: Int { state.withLock { $0.waiting.count } }

    /// Every batch exported so far.
    public var batches: [[SpanData]] { state.withLock { $0.batches } }

    /// Every span exported so far, batch after batch.
    public var spans: [SpanData] { batches.flatMap { $0 } }

    /// The size of every batch exported so far.
    public var batchSizes: [Int] { batches.map(\.count) }

    /// Whether the processor has shut the exporter down.
    public var isShutDown: Bool { state.withLock { $0.shutDown } }
}
