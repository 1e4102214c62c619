import VigilMetrics
import VigilSupport

/// When and how often a push client tries a request again: one rule set for every push target
/// (the OTLP exporter and the Pushgateway client alike).
///
/// - A 2xx answer is delivered.
/// - HTTP 429, 502, 503 and 504, and transport errors that may pass (connection refused or
///   reset, DNS failure, time-out; `HTTPClientError.isTransient`), are tried again, up to `maxAttempts` in all.
/// - Such an answer's `Retry-After` (seconds or an HTTP-date) holds the whole endpoint
///   (`EndpointThrottle`): no request goes there, from this push or any other, before the delay
///   has passed. A delay longer than `maxRetryAfter` (60 s by default) is capped to it: the
///   endpoint is held for `maxRetryAfter` and this push ends at once. Without `Retry-After`, or
///   with one of 0 or a date already past, the wait is exponential backoff with jitter
///   (`backoff(after:)`), for this push only.
/// - Every attempt, a push's first included, first waits for the endpoint's hold to pass; the
///   seconds spent so are added to the `throttled` counter the caller passes.
/// - Any other status or error is final: among them TLS failures (an untrusted certificate, a
///   refused client certificate), which do not pass by themselves.
/// - Cancelling the task ends the push at once: during a wait, or during an attempt, whose
///   transfer `HTTPClient` abandons.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included; less than 1 counts as 1.
    public var maxAttempts = 5
    /// The wait after the first attempt, before jitter.
    public var initialBackoff: Duration = .seconds(1)
    /// The longest wait between attempts, before jitter.
    public var maxBackoff: Duration = .seconds(30)
    /// How much the wait grows after each attempt.
    public var multiplier = 2.0
    /// The longest `Retry-After` honoured: a longer one holds the endpoint this long and ends the push.
    public var maxRetryAfter: Duration = .seconds(60)

    /// Five attempts, backoff from 1 s doubling up to 30 s, `Retry-After` honoured up to 60 s.
    public init() {}

    /// The wait before attempt `attempt + 1`: the exponential step, with a uniformly random
    /// half of it taken off so that many clients do not retry in step. Zero when the policy's
    /// numbers make no step (a negative or not-a-number backoff or multiplier).
    public func backoff(after attempt: Int) -> Duration {
        let cap = maxBackoff.seconds
        var step = initialBackoff.seconds
        for _ in 1..<max(1, attempt) where step < cap { step *= multiplier }
        step = min(cap, step)
        guard step.isFinite, step > 0 else { return .zero }
        return .seconds(step / 2 + Double.random(in: 0...(step / 2)))
    }

    /// Whether an HTTP status asks for another try: 429 Too Many Requests, 502 Bad Gateway,
    /// 503 Service Unavailable and 504 Gateway Timeout, the statuses OTLP/HTTP names retryable.
    public static func isRetryable(status: Int) -> Bool {
        status == 429 || status == 502 || status == 503 || status == 504
    }

    /// Sends `request` with `client` until it is delivered (2xx) or the policy gives up, waiting
    /// for `throttle`'s hold on the endpoint before each attempt and counting that wait in `throttled`.
    func send(_ request: HTTPRequest, with client: HTTPClient, throttle: EndpointThrottle = .shared,
              throttled: Counter? = nil) async -> Result<HTTPResponse, PushError> {
        await send(request, throttle: throttle, throttled: throttled) { request throws(HTTPClientError) in try await client.send(request) }
    }

    /// The retry loop, with the transfer, the wall clock (for `Retry-After` dates), the wait and
    /// the throttle passed in, so that tests can script answers and count waits without sleeping.
    func send(
        _ request: HTTPRequest,
        now: () -> Double = SystemClock.wallSeconds,
        wait: (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        throttle: EndpointThrottle = .shared,
        throttled: Counter? = nil,
        transfer: (HTTPRequest) async throws(HTTPClientError) -> HTTPResponse
    ) async -> Result<HTTPResponse, PushError> {
        func failure(_ attempts: Int, _ cause: PushError.Cause) -> Result<HTTPResponse, PushError> {
            .failure(PushError(method: request.method, url: Redaction.url(request.url), attempts: attempts, cause: cause))
        }
        var attempt = 0
        var last: PushError.Cause?
        while true {
            // The endpoint's hold, set by this push's last answer or by anyone else's.
            while let held = throttle.remaining(request.url) {
                let start = throttle.clock()
                do {
                    try Task.checkCancellation()
                    try await wait(held)
                } catch {
                    return failure(attempt, last.map { .cancelled(after: $0) } ?? .cancelledWhileThrottled(remaining: held))
                }
                throttled?.inc(by: max(0, throttle.clock() - start))
            }
            attempt += 1
            let cause: PushError.Cause
            let delay: Duration
            do {
                let response = try await transfer(request)
                if (200..<300).contains(response.status) { return .success(response) }
                cause = .status(response.status, body: PushError.excerpt(response.body))
                guard Self.isRetryable(status: response.status) else { return failure(attempt, cause) }
                // `Retry-After: 0` or a date past asks for no wait at all: the backoff still applies,
                // or five attempts would go back to back to a server that is failing.
                if let asked = response.header("Retry-After").flatMap({ RetryAfter.delay($0, now: now()) }), asked > .zero {
                    throttle.hold(request.url, for: min(asked, maxRetryAfter))
                    guard asked <= maxRetryAfter else {
                        return failure(attempt, .retryAfterTooLong(status: response.status, asked: asked, limit: maxRetryAfter))
                    }
                    delay = .zero  // the hold is the wait
                } else {
                    delay = backoff(after: attempt)
                }
            } catch {
                if error.isCancellation { return failure(attempt, .abandoned) }
                cause = .transport(error)
                guard error.isTransient else { return failure(attempt, cause) }
                delay = backoff(after: attempt)
            }
            guard attempt < maxAttempts else { return failure(attempt, cause) }
            last = cause
            guard delay > .zero else { continue }
            do {
                try Task.checkCancellation()
                try await wait(delay)
            } catch {
                return failure(attempt, .cancelled(after: cause))
            }
        }
    }
}
