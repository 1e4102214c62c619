import VigilSupport

/// A push that was not delivered: the request (method and URL, credentials redacted), what went
/// wrong, and after how many attempts. Its description says all three.
public struct PushError: Error, CustomStringConvertible, Sendable {
    /// What ended the push.
    public indirect enum Cause: Sendable {
        /// The target answered with this status: a final one, or a retryable one on the last attempt.
        case status(Int, body: String)
        /// No HTTP response came back (refused, reset, DNS, time-out, TLS).
        case transport(HTTPClientError)
        /// The target asked to wait longer than the policy's `maxRetryAfter`.
        case retryAfterTooLong(status: Int, asked: Duration, limit: Duration)
        /// The task was cancelled while waiting to retry after `after`.
        case cancelled(after: Cause)
        /// The task was cancelled during an attempt, whose transfer was abandoned.
        case abandoned
        /// The task was cancelled before any attempt, while the endpoint was held after an
        /// earlier `Retry-After` (`EndpointThrottle`), with this much of the hold left.
        case cancelledWhileThrottled(remaining: Duration)
    }

    /// The request's method.
    public var method: String
    /// The URL, with any user name and password replaced by `REDACTED`.
    public var url: String
    /// The attempts made, the first included.
    public var attempts: Int
    /// What ended the push (for the last attempt, or the wait after it).
    public var cause: Cause

    public var description: String {
        "\(method) \(url): \(Self.describe(cause)) (\(attempts == 1 ? "1 attempt" : "\(attempts) attempts"))"
    }

    private static func describe(_ cause: Cause) -> String {
        switch cause {
        case let .status(status, body):
            let detail = body.isEmpty ? "" : ": \(body)"
            if RetryPolicy.isRetryable(status: status) { return "HTTP \(status)\(detail); gave up" }
            return "HTTP \(status)\(detail); not retried\(hint(status))"
        case let .transport(error):
            let what = error.isLibraryUnavailable ? error.message : "\(error.message) (curl error \(error.code))"
            return error.isTransient ? "\(what); gave up (is the target running and reachable?)" : "\(what); not retried\(hint(error))"
        case let .retryAfterTooLong(status, asked, limit):
            return "HTTP \(status) asks to retry after \(asked), longer than maxRetryAfter (\(limit)); gave up"
        case let .cancelled(last):
            return "cancelled while waiting to retry after \(describe(last))"
        case .abandoned:
            return "cancelled during the attempt; the transfer was abandoned"
        case let .cancelledWhileThrottled(remaining):
            return "cancelled before sending: the target had asked (Retry-After) to wait \(remaining) more; not sent"
        }
    }

    /// What to check after a TLS failure, by libcurl's code and wording.
    private static func hint(_ error: HTTPClientError) -> String {
        switch error.code {
        case 60: return " (the target's certificate is not trusted: is the CA file the one that signed it, and does it name the URL's host or server_name?)"
        case 58: return " (check the client certificate and key files: PEM, readable, and a matching pair)"
        case 77: return " (check the CA file: PEM and readable)"
        case 35, 55, 56:
            if error.message.contains("certificate required") { return " (the target requires a client certificate: configure one and its key)" }
            if error.message.contains(" alert ") { return " (the target refused the TLS handshake: does it trust the CA of the client certificate?)" }
            return ""
        default: return ""
        }
    }

    private static func hint(_ status: Int) -> String {
        switch status {
        case 401, 403: " (check the credentials)"
        case 404: " (check the URL)"
        case 413: " (the target refuses a body this large)"
        default: ""
        }
    }

    /// The start of a response body, for an error message: at most 300 bytes, on one line.
    static func excerpt(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        return String(text.split(whereSeparator: \.isNewline).joined(separator: " ").trimmed())
    }
}
