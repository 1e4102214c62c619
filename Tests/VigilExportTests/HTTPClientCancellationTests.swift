import Foundation
import VigilSupport
import VigilTestSupport
import XCTest
@testable import VigilExport

/// Cancelling the task that awaits `HTTPClient.send` abandons the transfer: a target that accepts
/// and never answers holds a shutdown for no longer than it takes to notice, not for the
/// request's time-out.
final class HTTPClientCancellationTests: XCTestCase {
    /// The outcome of a send started in a task of its own, and whether it has come back.
    final class Outcome: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Result<HTTPResponse, HTTPClientError>?
        var result: Result<HTTPResponse, HTTPClientError>? { lock.withLock { value } }
        var finished: Bool { result != nil }
        func set(_ result: Result<HTTPResponse, HTTPClientError>) { lock.withLock { value = result } }
    }

    func start(_ client: HTTPClient, _ request: HTTPRequest) -> (Task<Void, Never>, Outcome) {
        let outcome = Outcome()
        let task = Task {
            outcome.set(await outcomeOfSending(request, with: client))
        }
        return (task, outcome)
    }

    func hangingRequest(_ listener: SilentListener, body: String = "{\"spans\":[]}") -> HTTPRequest {
        HTTPRequest(method: "POST", url: "http://user:hunter2@127.0.0.1:\(listener.port)/v1/traces",
                    headers: [("Content-Type", "application/json")], body: Array(body.utf8), timeout: .seconds(60))
    }

    func testCancellingAbandonsATransferTheTargetNeverAnswersAndSaysItWasCancelled() async throws {
        let listener = try SilentListener()
        let client = HTTPClient()
        let (task, outcome) = start(client, hangingRequest(listener, body: "hello, is anyone there"))
        try await waitUntil("the whole request to reach the silent target") {
            listener.pump()
            return listener.text.hasSuffix("hello, is anyone there")
        }
        XCTAssertFalse(outcome.finished, "the target has not answered")
        task.cancel()
        // The request's time-out is 60 s: coming back within 5 s means the transfer was given up.
        try await waitUntil(timeout: .seconds(5), "the cancelled send to come back") { outcome.finished }
        guard case .failure(let error) = outcome.result else { return XCTFail("\(String(describing: outcome.result))") }
        XCTAssertTrue(error.isCancellation, "\(error)")
        XCTAssertFalse(error.isTransient)
        XCTAssertEqual(error.code, 42)
        XCTAssertEqual("\(error)", "http://REDACTED@127.0.0.1:\(listener.port)/v1/traces: cancelled before the response came; the transfer was abandoned")
        try await waitUntil(timeout: .seconds(5), "the abandoned connection to be closed") {
            listener.pump()
            return listener.closedByClient == 1
        }
    }

    func testAClientWhoseTransferWasAbandonedServesTheNextRequest() async throws {
        let listener = try SilentListener()
        let receiver = try OTLPReceiver()
        let client = HTTPClient()
        let (task, outcome) = start(client, hangingRequest(listener))
        try await waitUntil("the request to reach the silent target") {
            listener.pump()
            return listener.accepted == 1 && listener.text.contains("\r\n\r\n")
        }
        task.cancel()
        try await waitUntil(timeout: .seconds(5), "the cancelled send to come back") { outcome.finished }
        let response = try await client.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(receiver.port)/control/received"))
        XCTAssertEqual(response.status, 200)
    }

    func testASendFromAnAlreadyCancelledTaskNeverConnects() async throws {
        let listener = try SilentListener()
        let client = HTTPClient()
        let request = hangingRequest(listener)
        let outcome = Outcome()
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            outcome.set(await outcomeOfSending(request, with: client))
        }
        await task.value
        guard case .failure(let error) = outcome.result else { return XCTFail("\(String(describing: outcome.result))") }
        XCTAssertTrue(error.isCancellation, "\(error)")
        listener.pump()
        XCTAssertEqual(listener.accepted, 0, "no connection was made")
    }

    func testACancelledRequestQueuedBehindAHungOneComesBackAtOnce() async throws {
        let listener = try SilentListener()
        let client = HTTPClient()
        let (first, firstOutcome) = start(client, hangingRequest(listener, body: "first"))
        try await waitUntil("the first request to reach the silent target") {
            listener.pump()
            return listener.text.hasSuffix("first")
        }
        // The client runs one transfer at a time: the second waits behind the hung first one.
        let (second, secondOutcome) = start(client, hangingRequest(listener, body: "second"))
        second.cancel()
        try await waitUntil(timeout: .seconds(5), "the queued send to come back") { secondOutcome.finished }
        XCTAssertTrue({ if case .failure(let e) = secondOutcome.result { e.isCancellation } else { false } }())
        XCTAssertFalse(firstOutcome.finished, "the first transfer is still waiting for its answer")
        first.cancel()
        try await waitUntil(timeout: .seconds(5), "the first send to come back") { firstOutcome.finished }
        listener.pump()
        XCTAssertFalse(listener.text.contains("second"), "the queued request was never sent")
    }

    func testCancellationDuringAnAttemptEndsTheRetryLoopAndIsReported() async throws {
        let listener = try SilentListener()
        let client = HTTPClient()
        let request = hangingRequest(listener)
        let policy = RetryPolicy()
        let outcome = Locked<Result<HTTPResponse, PushError>?>(nil)
        let push = Task { let r = await policy.send(request, with: client); outcome.withLock { $0 = r } }
        try await waitUntil("the request to reach the silent target") {
            listener.pump()
            return listener.text.contains("\r\n\r\n")
        }
        push.cancel()
        try await waitUntil(timeout: .seconds(5), "the push to end") { outcome.withLock { $0 != nil } }
        guard case .failure(let error) = outcome.withLock({ $0 }), case .abandoned = error.cause else {
            return XCTFail("\(String(describing: outcome.withLock { $0 }))")
        }
        XCTAssertEqual(error.description, "POST http://REDACTED@127.0.0.1:\(listener.port)/v1/traces: cancelled during the attempt; the transfer was abandoned (1 attempt)")
        listener.pump()
        XCTAssertEqual(listener.accepted, 1, "not tried again")
    }
}

/// `client.send(request)` as a value.
func outcomeOfSending(_ request: HTTPRequest, with client: HTTPClient) async -> Result<HTTPResponse, HTTPClientError> {
    do {
        return .success(try await client.send(request))
    } catch let error {
        return .failure(error)
    }
}
