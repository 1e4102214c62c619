import Synchronization

/// How many connections are open, in all and from each client address, so that a connection past
/// either limit is closed on accept: one client holding connections open (half-open, or slow to
/// send its head) uses up its own share, never every other client's.
///
/// A client is its IP address as the socket reports it (an IPv6 client is its whole address, not
/// its /64). The table holds only addresses with a connection open.
final class ConnectionLimits: Sendable {
    /// Which limit refused a connection.
    enum Refusal: Sendable { case total, perClient }

    let total: Int
    let perClient: Int
    private let state = Mutex<(open: Int, byClient: [String: Int])>((0, [:]))

    init(total: Int, perClient: Int) {
        self.total = total
        self.perClient = perClient
    }

    /// Counts a new connection from `client` and returns nil, or counts nothing and says which
    /// limit it would pass.
    func admit(_ client: String) -> Refusal? {
        state.withLock { state in
            guard state.open < total else { return .total }
            let fromClient = state.byClient[client, default: 0]
            guard fromClient < perClient else { return .perClient }
            state.open += 1
            state.byClient[client] = fromClient + 1
            return nil
        }
    }

    /// Forgets a connection that `admit` counted, once it has closed.
    func release(_ client: String) {
        state.withLock { state in
            state.open -= 1
            let left = state.byClient[client, default: 1] - 1
            state.byClient[client] = left > 0 ? left : nil
        }
    }

    /// Connections open now (for tests).
    var open: Int { state.withLock { $0.open } }
}
