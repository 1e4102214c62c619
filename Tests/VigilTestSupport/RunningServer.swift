import ServiceLifecycleTestKit
import Synchronization
import Vigil

// The harness these tests run a sidecar in: the run in a child task under ServiceLifecycle's
// graceful-shutdown test trigger (what SIGTERM does in `vigil serve`), scraped over loopback.

/// A server running in a child task until the test shuts it down.
public struct RunningServer: Sendable {
    /// The port `onListening` reported.
    public let port: Int
    let trigger: GracefulShutdownTestTrigger
    let state: RunState
    let http = HTTPClient(maximumBodyBytes: 16 << 20)

    /// `GET path` on the server.
    public func get(_ path: String) async throws(HTTPClientError) -> HTTPResponse {
        try await http.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)\(path)", timeout: .seconds(5)))
    }

    /// The samples of a scrape of /metrics, by series as written (`name{label="value",…}`).
    public func scrape() async throws -> [String: Double] {
        let response = try await get("/metrics")
        guard response.status == 200 else { throw HarnessError("GET /metrics answered \(response.status)") }
        return exposedSamples(response.body)
    }

    /// Whether a connection to the port is refused: nothing listens there any more.
    public func refusesConnections() async -> Bool {
        do {
            _ = try await get("/-/healthy")
            return false
        } catch {
            return error.code == 7  // CURLE_COULDNT_CONNECT
        }
    }

    /// Triggers the graceful shutdown and waits for the run to return; how long it took.
    public func shutDown() async throws -> Duration {
        let started = ContinuousClock.now
        trigger.triggerGracefulShutdown()
        try await waitUntil(timeout: .seconds(20), "the server to stop after graceful shutdown") { state.finished != nil }
        guard case .returned(let at)? = state.finished else { throw HarnessError("the run failed: \(state.finished.map { "\($0)" } ?? "")") }
        return started.duration(to: at)
    }
}

/// The samples of a text-format exposition, by series as written (`name{label="value",…}`).
public func exposedSamples(_ body: [UInt8]) -> [String: Double] {
    var samples: [String: Double] = [:]
    for line in String(decoding: body, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        samples[String(line[..<space])] = value
    }
    return samples
}

/// Runs `run` (a sidecar's or the demo's) until `body` is done, then shuts it down gracefully
/// unless `body` did. When `body` throws, the run is cancelled instead.
public func withRunningServer(
    _ run: @escaping @Sendable (_ onListening: @escaping @Sendable (Int) -> Void) async throws -> Void,
    _ body: (RunningServer) async throws -> Void
) async throws {
    try await testGracefulShutdown { trigger in
        let state = RunState()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await run { port in state.listening(on: port) }
                    state.finish(.returned(at: .now))
                } catch {
                    state.finish(.threw("\(error)"))
                }
            }
            defer { group.cancelAll() }
            try await waitUntil("the server to listen") { state.port != nil || state.finished != nil }
            guard let port = state.port else { throw HarnessError("the run ended before it listened: \(state.finished.map { "\($0)" } ?? "")") }
            let server = RunningServer(port: port, trigger: trigger, state: state)
            try await body(server)
            if state.finished == nil { _ = try await server.shutDown() }
        }
    }
}

/// What the run's task has reported so far.
public final class RunState: Sendable {
    public enum Outcome: Sendable, CustomStringConvertible {
        case returned(at: ContinuousClock.Instant)
        case threw(String)

        public var description: String {
            switch self {
            case .returned: "returned"
            case .threw(let error): "threw \(error)"
            }
        }
    }

    private let state = Mutex<(port: Int?, finished: Outcome?)>((nil, nil))

    public var port: Int? { state.withLock { $0.port } }
    public var finished: Outcome? { state.withLock { $0.finished } }
    func listening(on port: Int) { state.withLock { $0.port = port } }
    func finish(_ outcome: Outcome) { state.withLock { $0.finished = outcome } }
}

public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
