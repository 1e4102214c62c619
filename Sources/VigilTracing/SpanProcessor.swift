/// Receives spans as they end.
public protocol SpanProcessor: Sendable {
    /// Called on the thread that ended the span, with the ended span (its `snapshot` no longer
    /// changes): must never block. Build the `SpanData` later, off that thread, if you can.
    func onEnd(_ span: Span)
    /// Delivers every span received so far before returning.
    func forceFlush() async
    /// Delivers what it can within `deadline`, then stops taking spans.
    func shutdown(deadline: Duration) async
}

/// Ships batches of spans somewhere: an OTLP collector, a file.
public protocol SpanExporter: Sendable {
    /// Exports one batch. Called by one task at a time.
    func export(_ batch: [SpanData]) async -> SpanExportResult
    func shutdown() async
}

/// How an export went.
public enum SpanExportResult: Sendable, Equatable {
    case success
    /// The receiver took the batch but rejected some spans (OTLP partial success).
    case partialSuccess(rejected: Int, message: String)
    /// Nothing was delivered; the spans are lost.
    case failure(reason: String)
}
