import VigilContract
import VigilMetrics
import VigilSupport
import Synchronization

/// Queues ended spans and exports them in batches from a task of its own, with the
/// OpenTelemetry SDK defaults (queue 2048, batch 512, delay 5 s, export timeout 30 s).
///
/// `onEnd` queues the ended span itself (one reference) under a lock held for the few
/// nanoseconds of an append, never across I/O, and never waits; the worker builds each span's
/// `SpanData` when it exports it. A full queue drops the span and counts it in
/// `vigil_spans_dropped_total{reason="queue_full"}`. `forceFlush()` returns only once every span
/// queued before it was called has been handed to the exporter and the export has finished.
public final class BatchSpanProcessor: SpanProcessor {
    /// Tuning, by default the OpenTelemetry SDK's.
    public struct Configuration: Sendable, Equatable {
        public var maxQueueSize = 2048
        public var maxExportBatchSize = 512
        public var scheduleDelay: Duration = .seconds(5)
        public var exportTimeout: Duration = .seconds(30)

        public init() {}

        /// The largest queue `fromEnvironment` sets: a million spans.
        public static let maximumQueueSize = 1 << 20

        /// The defaults, overridden by `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`,
        /// `OTEL_BSP_SCHEDULE_DELAY` and `OTEL_BSP_EXPORT_TIMEOUT` (milliseconds). Values that do not
        /// parse, or are not positive, are ignored, as the specification asks; larger ones are cut
        /// to `maximumQueueSize` spans and an hour (the queue is allocated whole at start).
        public static func fromEnvironment(_ environment: [String: String] = ProcessEnvironment.all) -> Configuration {
            var c = Configuration()
            func positive(_ key: String, atMost limit: Int) -> Int? {
                environment[key].flatMap { Int($0) }.flatMap { $0 > 0 ? min($0, limit) : nil }
            }
            let hour = 3_600_000
            if let v = positive("OTEL_BSP_MAX_QUEUE_SIZE", atMost: maximumQueueSize) { c.maxQueueSize = v }
            if let v = positive("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", atMost: maximumQueueSize) { c.maxExportBatchSize = v }
            if let v = positive("OTEL_BSP_SCHEDULE_DELAY", atMost: hour) { c.scheduleDelay = .milliseconds(v) }
            if let v = positive("OTEL_BSP_EXPORT_TIMEOUT", atMost: hour) { c.exportTimeout = .milliseconds(v) }
            c.maxExportBatchSize = min(c.maxExportBatchSize, c.maxQueueSize)
            return c
        }
    }

    public let configuration: Configuration
    private let exporter: any SpanExporter
    private let state: Mutex<State>
    private let wakeup = Wakeup()
    private let worker = Locked<Task<Void, Never>?>(nil)
    private let metrics: Metrics?
    /// Out of `metrics`, so that `onEnd` reaches it without copying (and retaining) the rest.
    private let queueLength: Gauge?

    /// Ended spans are released where they were queued, not on the worker: a slot keeps its
    /// exported span until a later `onEnd` overwrites it, so the span's memory goes back to the
    /// allocator cache of the thread that makes the next one (glibc's tcache), instead of into
    /// an arena the producing thread then has to lock against the worker's frees. A quiet round
    /// of the worker lets go of what is left.
    private struct State {
        /// `buffer[0..<queued]` waits for export; slots past it hold exported spans still to be
        /// released.
        var buffer: [Span] = []
        var queued = 0
        /// The buffer of the last export, swapped in when the worker takes the queue, so that
        /// taking it is O(1) under the lock and neither buffer's storage is given up.
        var spare: [Span] = []
        var flushWaiters: [CheckedContinuation<Void, Never>] = []
        var shuttingDown = false
        var stopped = false
    }

    struct Metrics {
        let exported: Counter
        let dropped: CounterFamily
        let queueLength: Gauge
    }

    /// - Parameter registry: where `vigil_spans_exported_total`, `vigil_spans_dropped_total` and
    ///   `vigil_span_queue_length` go.
    public init(exporter: any SpanExporter, configuration: Configuration = .fromEnvironment(), registry: Registry? = nil) {
        self.exporter = exporter
        var configuration = configuration
        configuration.maxQueueSize = max(1, configuration.maxQueueSize)
        configuration.maxExportBatchSize = max(1, min(configuration.maxExportBatchSize, configuration.maxQueueSize))
        self.configuration = configuration
        var buffer: [Span] = []
        buffer.reserveCapacity(configuration.maxQueueSize)
        self.state = Mutex(State(buffer: buffer))
        self.metrics = registry.flatMap { registry in
            try? Metrics(
                exported: registry.register(VigilMetric.spansExported).labels(),
                dropped: registry.register(VigilMetric.spansDropped),
                queueLength: registry.register(VigilMetric.spanQueueLength).labels())
        }
        queueLength = metrics?.queueLength
        if let metrics {
            for reason in DropReason.allCases { _ = metrics.dropped.labels(reason.rawValue) }
        }
        worker.withLock { $0 = Task.detached { [self] in await run() } }
    }

    /// Why a span did not reach the receiver.
    public enum DropReason: String, CaseIterable, Sendable {
        case queueFull = "queue_full"
        case exportFailed = "export_failed"
        case rejected
        case shutdown
    }

    public func onEnd(_ span: Span) {
        var released: Span?
        let outcome: (accepted: Bool, length: Int, reason: DropReason) = state.withLock { state in
            if state.shuttingDown { return (false, state.queued, .shutdown) }
            guard state.queued < configuration.maxQueueSize else { return (false, state.queued, .queueFull) }
            if state.queued < state.buffer.count {
                released = state.buffer[state.queued]
                state.buffer[state.queued] = span
            } else {
                state.buffer.append(span)
            }
            state.queued += 1
            return (true, state.queued, .queueFull)
        }
        // The exported span in the slot is freed here, outside the lock.
        _ = consume released
        guard outcome.accepted else {
            metrics?.dropped.labels(outcome.reason.rawValue).inc()
            return
        }
        queueLength?.set(outcome.length)
        if outcome.length == configuration.maxExportBatchSize { wakeup.ring() }
    }

    public func forceFlush() async {
        let running = state.withLock { !$0.stopped }
        guard running else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let stopped = state.withLock { state in
                if state.stopped { return true }
                state.flushWaiters.append(continuation)
                return false
            }
            if stopped { continuation.resume() } else { wakeup.ring() }
        }
    }

    public func shutdown(deadline: Duration) async {
        let first = state.withLock { state in
            defer { state.shuttingDown = true }
            return !state.shuttingDown
        }
        guard first else { return }
        _ = await withDeadline(deadline) { await self.forceFlush() }
        let (task, leftover, waiters) = state.withLock { state in
            state.stopped = true
            defer {
                state.buffer.removeAll()
                state.spare.removeAll()
                state.queued = 0
                state.flushWaiters.removeAll()
            }
            return (worker.withLock { $0 }, state.queued, state.flushWaiters)
        }
        if leftover > 0 { metrics?.dropped.labels(DropReason.shutdown.rawValue).inc(by: leftover) }
        metrics?.queueLength.set(0)
        waiters.forEach { $0.resume() }
        task?.cancel()
        wakeup.ring()
        await exporter.shutdown()
    }

    private func run() async {
        while true {
            await wakeup.wait(timeout: configuration.scheduleDelay)
            // Everything queued now, and every flush asked for before this point, is served by
            // this round; what comes in meanwhile waits for the next one.
            let (stopped, waiters) = state.withLock { state in
                defer { state.flushWaiters.removeAll() }
                return (state.stopped, state.flushWaiters)
            }
            if stopped { return }
            var (taken, count) = takeAll()
            var start = 0
            while start < count {
                let end = min(start + configuration.maxExportBatchSize, count)
                await exportWithTimeout(Self.snapshots(of: taken, start..<end))
                start = end
            }
            // A quiet round: nothing is coming to release what the buffers hold.
            if count == 0 { taken.removeAll(keepingCapacity: true) }
            let released: [Span] = state.withLock { state in
                swap(&state.spare, &taken)  // moved, not copied: producers write into it next
                guard count == 0 else { return [] }
                defer { state.buffer.removeSubrange(state.queued...) }
                return Array(state.buffer[state.queued...])
            }
            _ = consume released  // freed outside the lock
            waiters.forEach { $0.resume() }
        }
    }

    /// Everything queued (the first `count` spans of the buffer), leaving the spare buffer as
    /// the new queue.
    private func takeAll() -> (buffer: [Span], count: Int) {
        let taken = state.withLock { state -> ([Span], Int) in
            guard !state.stopped else { return ([], 0) }
            var taken = state.spare
            swap(&taken, &state.buffer)
            state.spare = []
            defer { state.queued = 0 }
            return (taken, state.queued)
        }
        metrics?.queueLength.set(0)
        return taken
    }

    /// The spans' data, read without retaining the spans: a retain writes to the span, and the
    /// thread that queued it releases it later, so each would move the span's cache line between
    /// the two cores once more.
    private static func snapshots(of spans: [Span], _ range: Range<Int>) -> [SpanData] {
        spans.withUnsafeBufferPointer { buffer in
            var batch: [SpanData] = []
            batch.reserveCapacity(range.count)
            for i in range {
                Unmanaged.passUnretained(buffer[i])._withUnsafeGuaranteedRef { batch.append($0.snapshot) }
            }
            return batch
        }
    }

    private func exportWithTimeout(_ batch: [SpanData]) async {
        let exporter = self.exporter
        let result = await withDeadline(configuration.exportTimeout) { await exporter.export(batch) }
            ?? .failure(reason: "export timed out after \(configuration.exportTimeout)")
        switch result {
        case .success:
            metrics?.exported.inc(by: batch.count)
        case .partialSuccess(let rejected, _):
            let rejected = min(max(rejected, 0), batch.count)
            metrics?.exported.inc(by: batch.count - rejected)
            metrics?.dropped.labels(DropReason.rejected.rawValue).inc(by: rejected)
        case .failure:
            metrics?.dropped.labels(DropReason.exportFailed.rawValue).inc(by: batch.count)
        }
    }
}
