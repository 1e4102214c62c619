import VigilMetrics
import VigilSupport
import XCTest
@testable import VigilExport

/// The one retry loop every push client uses, driven by scripted answers: no network, no sleeping.
final class RetryPolicyTests: XCTestCase {
    let request = HTTPRequest(method: "PUT", url: "http://user:hunter2@gateway:9091/metrics/job/j")

    struct Run {
        var result: Result<HTTPResponse, PushError>
        var attempts: Int
        var waits: [Duration]
    }

    /// A monotonic clock that moves only when a wait is made, for a throttle that never sleeps.
    final class FakeClock: @unchecked Sendable {
        let seconds = Locked(1000.0)
        func read() -> Double { seconds.withLock { $0 } }
        func advance(_ d: Duration) { seconds.withLock { $0 += d.seconds } }
    }

    /// Runs `policy` against `answers`, one per attempt (the last repeats), recording the waits.
    /// Each run has its own throttle on a fake clock, which the waits advance.
    func run(_ answers: [Result<HTTPResponse, HTTPClientError>], policy: RetryPolicy = RetryPolicy(), now: Double = 0,
             throttle: EndpointThrottle? = nil, clock: FakeClock = FakeClock(), throttled: Counter? = nil) async -> Run {
        var attempts = 0
        var waits: [Duration] = []
        let throttle = throttle ?? EndpointThrottle(now: { clock.read() })
        let result = await policy.send(request, now: { now }, wait: { waits.append($0); clock.advance($0) },
                                       throttle: throttle, throttled: throttled) { _ throws(HTTPClientError) in
            attempts += 1
            return try answers[min(attempts, answers.count) - 1].get()
        }
        return Run(result: result, attempts: attempts, waits: waits)
    }

    func answer(_ status: Int, _ headers: [(name: String, value: String)] = [], body: String = "") -> Result<HTTPResponse, HTTPClientError> {
        .success(HTTPResponse(status: status, headers: headers, body: Array(body.utf8)))
    }

    func transportError(_ code: Int, _ message: String) -> Result<HTTPResponse, HTTPClientError> {
        .failure(HTTPClientError(code: code, message: message, url: Redaction.url(request.url)))
    }

    func testTooManyRequestsAndGatewayErrorsAreRetried() async {
        for status in [429, 502, 503, 504] {
            let run = await run([answer(status), answer(200)])
            XCTAssertEqual(try run.result.get().status, 200, "HTTP \(status)")
            XCTAssertEqual(run.attempts, 2, "HTTP \(status)")
            XCTAssertEqual(run.waits.count, 1, "HTTP \(status)")
        }
    }

    func testRetryAfterZeroOrAPastDateStillWaitsThePolicysBackoff() async {
        for value in ["0", "Sun, 06 Nov 1994 08:49:37 GMT"] {
            let run = await run([answer(503, [("Retry-After", value)])], now: 1_000_000_000)
            XCTAssertEqual(run.attempts, 5, "Retry-After: \(value)")
            XCTAssertEqual(run.waits.count, 4, "Retry-After: \(value): a wait before every attempt after the first, never none")
            XCTAssertTrue(run.waits.allSatisfy { $0 > .zero }, "Retry-After: \(value): \(run.waits)")
        }
    }

    func testEveryOtherStatusIsFinal() async {
        for status in [500, 501, 505, 400, 401, 404, 413, 301, 100] {
            let run = await run([answer(status, body: "no\nthanks\n"), answer(200)])
            XCTAssertEqual(run.attempts, 1, "HTTP \(status)")
            XCTAssertEqual(run.waits, [], "HTTP \(status)")
            guard case .failure(let error) = run.result else { XCTFail("HTTP \(status) delivered"); continue }
            XCTAssertTrue(error.description.hasPrefix("PUT http://REDACTED@gateway:9091/metrics/job/j: HTTP \(status): no thanks; not retried"),
                          error.description)
        }
    }

    func testRetryAfterSetsTheWaitInSecondsOrAsADate() async {
        let seconds = await run([answer(503, [("Retry-After", "7")]), answer(200)])
        XCTAssertEqual(seconds.waits, [.seconds(7)])
        let now = 784_111_777.0  // Sun, 06 Nov 1994 08:49:37 GMT
        let date = await run([answer(429, [("retry-after", "Sun, 06 Nov 1994 08:49:49 GMT")]), answer(200)], now: now)
        XCTAssertEqual(date.waits, [.seconds(12)])
        let garbage = await run([answer(503, [("Retry-After", "soon")]), answer(200)])
        XCTAssertEqual(garbage.waits.count, 1, "an unreadable Retry-After falls back to backoff")
        XCTAssertLessThanOrEqual(garbage.waits[0], RetryPolicy().initialBackoff)
    }

    func testRetryAfterLongerThanTheCapGivesUpAtOnce() async {
        var policy = RetryPolicy()
        policy.maxRetryAfter = .seconds(60)
        let run = await run([answer(503, [("Retry-After", "120")]), answer(200)], policy: policy)
        XCTAssertEqual(run.attempts, 1)
        XCTAssertEqual(run.waits, [])
        guard case .failure(let error) = run.result, case .retryAfterTooLong(503, .seconds(120), .seconds(60)) = error.cause else {
            return XCTFail("\(run.result)")
        }
        XCTAssertTrue(error.description.contains("HTTP 503 asks to retry after 120.0 seconds, longer than maxRetryAfter (60.0 seconds)"), error.description)
    }

    func testRetryAfterHoldsTheEndpointForTheNextPushAndTheWaitIsCounted() async throws {
        let clock = FakeClock()
        let throttle = EndpointThrottle(now: { clock.read() })
        let registry = Registry()
        let throttled = try registry.counter("throttled_seconds_total", help: "test")
        var policy = RetryPolicy()
        policy.maxAttempts = 1
        let first = await run([answer(503, [("Retry-After", "2")])], policy: policy, throttle: throttle, clock: clock, throttled: throttled)
        XCTAssertEqual(first.attempts, 1)
        XCTAssertEqual(first.waits, [], "the push that was told to wait gives up at once (one attempt)")
        XCTAssertEqual(throttle.remaining("http://gateway:9091/metrics/job/j"), .seconds(2), "…but the endpoint stays held")
        XCTAssertEqual(throttle.remaining("HTTP://other@GATEWAY:9091/metrics/job/j?x=1"), .seconds(2), "one endpoint, however spelled")
        XCTAssertNil(throttle.remaining("http://gateway:9091/metrics/job/other"), "another path is another endpoint")

        let next = await run([answer(200)], policy: policy, throttle: throttle, clock: clock, throttled: throttled)
        XCTAssertEqual(next.waits, [.seconds(2)], "the next push waits out the hold before its first attempt")
        XCTAssertEqual(next.attempts, 1)
        XCTAssertEqual(throttled.value, 2, "the held time is counted in seconds")
        XCTAssertNil(throttle.remaining("http://gateway:9091/metrics/job/j"))
    }

    func testRetryAfterLongerThanTheCapHoldsTheEndpointForTheCap() async {
        let clock = FakeClock()
        let throttle = EndpointThrottle(now: { clock.read() })
        var policy = RetryPolicy()
        policy.maxRetryAfter = .seconds(60)
        _ = await run([answer(429, [("Retry-After", "86400")])], policy: policy, throttle: throttle, clock: clock)
        XCTAssertEqual(throttle.remaining(request.url), .seconds(60), "a day-long Retry-After is capped to maxRetryAfter")
    }

    func testAHoldOnlyGrows() {
        let clock = FakeClock()
        let throttle = EndpointThrottle(now: { clock.read() })
        throttle.hold("http://h/v1/traces", for: .seconds(5))
        throttle.hold("http://h:80/v1/traces", for: .seconds(1))
        XCTAssertEqual(throttle.remaining("http://h/v1/traces"), .seconds(5))
        clock.advance(.seconds(5))
        XCTAssertNil(throttle.remaining("http://h/v1/traces"))
    }

    func testAnEndpointIsSchemeHostPortAndPathHoweverSpelled() {
        XCTAssertEqual(EndpointThrottle.key(for: "http://user:pw@Collector:4318/v1/traces?x=1#f"), "http://collector:4318/v1/traces")
        XCTAssertEqual(EndpointThrottle.key(for: "https://collector/v1/metrics"), "https://collector:443/v1/metrics")
        XCTAssertEqual(EndpointThrottle.key(for: "http://collector"), "http://collector:80/")
        XCTAssertEqual(EndpointThrottle.key(for: "http://[::1]/metrics/job/j"), "http://[::1]:80/metrics/job/j")
        XCTAssertEqual(EndpointThrottle.key(for: "http://[::1]:9091/metrics/job/j"), "http://[::1]:9091/metrics/job/j")
        XCTAssertEqual(EndpointThrottle.key(for: "not a url"), "not a url")
    }

    func testCancellationWhileTheEndpointIsHeldSendsNothing() async throws {
        let throttle = EndpointThrottle()
        throttle.hold(request.url, for: .seconds(30))
        let request = self.request
        let push = Task {
            await RetryPolicy().send(request, throttle: throttle) { _ throws(HTTPClientError) in
                XCTFail("a request went out while the endpoint was held")
                return HTTPResponse(status: 200, headers: [], body: [])
            }
        }
        push.cancel()
        guard case .failure(let error) = await push.value, case .cancelledWhileThrottled = error.cause else {
            return XCTFail("not a cancellation while throttled")
        }
        XCTAssertEqual(error.attempts, 0)
        XCTAssertTrue(error.description.contains("asked (Retry-After) to wait"), error.description)
    }

    func testTransientTransportErrorsAreRetriedAndOthersAreFinal() async {
        let refused = await run([transportError(7, "Couldn't connect to server"), answer(204)])
        XCTAssertEqual(try refused.result.get().status, 204)
        XCTAssertEqual(refused.attempts, 2)
        let malformed = await run([transportError(3, "URL using bad/illegal format or missing URL"), answer(204)])
        XCTAssertEqual(malformed.attempts, 1)
        guard case .failure(let error) = malformed.result else { return XCTFail("delivered") }
        XCTAssertEqual(error.description,
                       "PUT http://REDACTED@gateway:9091/metrics/job/j: URL using bad/illegal format or missing URL (curl error 3); not retried (1 attempt)")
    }

    /// Where libcurl.so.4 cannot be loaded (HTTPClient loads it with dlopen), the push fails at
    /// once, saying what is missing and how to install it, and no curl error code is quoted.
    func testAMissingLibcurlIsFinalAndSaysWhatToInstall() async {
        let message = "libcurl.so.4 could not be loaded (libcurl.so.4: cannot open shared object file: No such file or directory): "
            + "pushes need it; install libcurl4 (Debian, Ubuntu: apt-get install libcurl4; Fedora, RHEL: dnf install libcurl)"
        let missing = await run([transportError(HTTPClientError.libraryUnavailableCode, message), answer(204)])
        XCTAssertEqual(missing.attempts, 1)
        guard case .failure(let error) = missing.result, case .transport(let transport) = error.cause else { return XCTFail("delivered") }
        XCTAssertTrue(transport.isLibraryUnavailable)
        XCTAssertFalse(transport.isTransient)
        XCTAssertEqual(error.description, "PUT http://REDACTED@gateway:9091/metrics/job/j: \(message); not retried (1 attempt)")
    }

    func testGivesUpAfterMaxAttemptsNamingMethodURLStatusAndAttempts() async {
        var policy = RetryPolicy()
        policy.maxAttempts = 3
        policy.initialBackoff = .seconds(1)
        policy.maxBackoff = .seconds(30)
        let busy = await run([answer(503, body: "busy")], policy: policy)
        XCTAssertEqual(busy.attempts, 3)
        XCTAssertEqual(busy.waits.count, 2)
        XCTAssertTrue((.milliseconds(500)...(.seconds(1))).contains(busy.waits[0]), "\(busy.waits)")
        XCTAssertTrue((.seconds(1)...(.seconds(2))).contains(busy.waits[1]), "\(busy.waits)")
        guard case .failure(let error) = busy.result else { return XCTFail("delivered") }
        XCTAssertEqual(error.description, "PUT http://REDACTED@gateway:9091/metrics/job/j: HTTP 503: busy; gave up (3 attempts)")
        XCTAssertFalse(error.description.contains("hunter2"))

        let down = await run([transportError(7, "Couldn't connect to server")], policy: policy)
        guard case .failure(let downError) = down.result else { return XCTFail("delivered") }
        XCTAssertEqual(downError.description, "PUT http://REDACTED@gateway:9091/metrics/job/j: Couldn't connect to server (curl error 7); "
                       + "gave up (is the target running and reachable?) (3 attempts)")
    }

    func testCancellationEndsTheWaitWithAClearFailure() async throws {
        let policy = RetryPolicy()
        let request = self.request
        let started = expectation(description: "first attempt made")
        let push = Task {
            await policy.send(request, throttle: EndpointThrottle()) { _ throws(HTTPClientError) in
                started.fulfill()
                return HTTPResponse(status: 503, headers: [("Retry-After", "30")], body: [])
            }
        }
        await fulfillment(of: [started], timeout: 10)
        push.cancel()
        let clock = ContinuousClock()
        let start = clock.now
        guard case .failure(let error) = await push.value, case .cancelled(after: .status(503, _)) = error.cause else {
            return XCTFail("not a cancellation")
        }
        XCTAssertLessThan(start.duration(to: clock.now), .seconds(5), "the 30 s wait was cut short")
        XCTAssertTrue(error.description.hasPrefix("PUT http://REDACTED@gateway:9091/metrics/job/j: cancelled while waiting to retry after HTTP 503"),
                      error.description)
    }

    func testBackoffGrowsWithJitterAndIsCapped() {
        var policy = RetryPolicy()
        policy.initialBackoff = .seconds(1)
        policy.maxBackoff = .seconds(8)
        for attempt in 1...6 {
            let step = min(8.0, Double(1 << (attempt - 1)))
            let wait = policy.backoff(after: attempt)
            XCTAssertGreaterThanOrEqual(wait, .seconds(step / 2))
            XCTAssertLessThanOrEqual(wait, .seconds(step))
        }
        XCTAssertLessThanOrEqual(policy.backoff(after: 0), .seconds(1), "attempt 0 is the first step, not a trap")
        XCTAssertLessThanOrEqual(policy.backoff(after: 10_000), .seconds(8))
    }

    func testNonsensicalPoliciesNeverTrap() {
        var negative = RetryPolicy()
        negative.initialBackoff = .seconds(-3)
        XCTAssertEqual(negative.backoff(after: 2), .zero)
        for multiplier in [Double.nan, .infinity, -2, 0] {
            var policy = RetryPolicy()
            policy.multiplier = multiplier
            for attempt in 1...5 {
                XCTAssertTrue((.zero...policy.maxBackoff).contains(policy.backoff(after: attempt)), "multiplier \(multiplier)")
            }
        }
    }

    func testRetryAfterInSecondsAndInEveryHTTPDateForm() {
        let now = 784_111_777.0  // Sun, 06 Nov 1994 08:49:37 GMT
        XCTAssertEqual(RetryAfter.delay("120", now: now), .seconds(120))
        XCTAssertEqual(RetryAfter.delay(" 120 ", now: now), .seconds(120))
        XCTAssertEqual(RetryAfter.delay("Sun, 06 Nov 1994 08:49:47 GMT", now: now), .seconds(10))
        XCTAssertEqual(RetryAfter.delay("Sunday, 06-Nov-94 08:49:57 GMT", now: now), .seconds(20))
        XCTAssertEqual(RetryAfter.delay("Sun Nov  6 08:50:07 1994", now: now), .seconds(30))
        XCTAssertEqual(RetryAfter.delay("Sun, 06 Nov 1994 08:00:00 GMT", now: now), .zero, "a date in the past means now")
        XCTAssertNil(RetryAfter.delay("soon", now: now))
        XCTAssertNil(RetryAfter.delay("-5", now: now))
        XCTAssertNil(RetryAfter.delay("+5", now: now))
        XCTAssertNil(RetryAfter.delay("", now: now))
        XCTAssertNil(RetryAfter.delay("Sun, 32 Nov 1994 08:49:37 GMT", now: now))
    }

    func testRetryAfterFromAHostileServerNeverTraps() {
        XCTAssertEqual(RetryAfter.delay("99999999999999999999999999", now: 0), .seconds(Int.max), "longer than any cap")
        XCTAssertNil(RetryAfter.delay("Sun, 06 Nov 99999999999999 08:49:37 GMT", now: 0))
        XCTAssertNil(RetryAfter.delay("Sun Nov  6 08:50:07 -99999999999", now: 0))
        XCTAssertNil(RetryAfter.delay("Sun, 06 Nov 1994 99:99:99 GMT", now: 0))
    }
}
