import HummingbirdBcrypt
import Synchronization
import VigilSupport

/// Basic authentication against a web config's `basic_auth_users` (bcrypt hashes), with the
/// verified credentials cached in a `BasicAuthCache`.
final class ScrapeAuthentication: Sendable {
    /// A bcrypt check: (password, hash) → whether they match. `Bcrypt.verify` in the server;
    /// tests count calls through it.
    typealias Verifier = @Sendable (_ password: String, _ hash: String) -> Bool

    /// `Bcrypt.verify`: the check the server makes when none is given.
    static let bcrypt: Verifier = { Bcrypt.verify($0, hash: $1) }

    /// The `WWW-Authenticate` value sent with a 401 (RFC 7617 §2).
    static let challenge = "Basic realm=\"vigil\", charset=\"UTF-8\""

    /// User → hash, `$2y$` written as the `$2b$` it is equal to (the bcrypt core knows `$2a$`
    /// and `$2b$` only; `$2y$` is PHP's name for the fixed `$2b$` algorithm).
    private let users: [String: String]
    private let verify: Verifier
    let cache: BasicAuthCache
    /// A hash of the users' cost that an unknown user's password is checked against, so that
    /// the answer takes as long as for a known user and does not tell which users exist.
    private let decoy = Mutex<String?>(nil)

    /// What a request's credentials come to.
    enum Decision: Sendable {
        case accepted
        case rejected
        /// Needs a bcrypt round: run the closure off the event loop; true means accepted.
        case verify(@Sendable () -> Bool)
    }

    /// - Parameter verify: the bcrypt check; nil: `Bcrypt.verify`.
    init(users: [String: String], cache: BasicAuthCache = BasicAuthCache(), verify: Verifier? = nil) {
        self.users = users.mapValues { $0.hasPrefix("$2y$") ? "$2b$" + $0.dropFirst(4) : $0 }
        self.cache = cache
        self.verify = verify ?? Self.bcrypt
    }

    /// Decides on an `Authorization` header value (nil when the request had none).
    func check(authorization header: String?) -> Decision {
        guard let (user, password) = Self.credentials(header) else { return .rejected }
        // bcrypt reads at most 72 bytes and stops at a NUL: refuse what it would silently cut.
        guard password.utf8.count <= 72, !password.utf8.contains(0) else { return .rejected }
        guard let hash = users[user] else {
            // The decoy is made (once, a bcrypt round) where the check runs, off the event loop.
            return .verify { [self] in _ = self.verify(password, self.decoyHash()); return false }
        }
        if cache.contains(user: user, password: password, hash: hash) { return .accepted }
        let verify = self.verify, cache = self.cache
        return .verify {
            guard verify(password, hash) else { return false }
            cache.insert(user: user, password: password, hash: hash)
            return true
        }
    }

    /// User and password from `Basic <base64 of user:password>`, nil when the header is
    /// missing or not that.
    static func credentials(_ header: String?) -> (user: String, password: String)? {
        guard let header, header.count > 6, header.prefix(6).lowercased() == "basic ",
              let decoded = Base64.decode(String(String(header.dropFirst(6)).trimmed())) else { return nil }
        let text = String(decoding: decoded, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    private func decoyHash() -> String {
        decoy.withLock { decoy in
            if let decoy { return decoy }
            let cost = users.values.first.flatMap { UInt8($0.dropFirst(4).prefix(2)) } ?? 10
            let made = Bcrypt.hash("vigil decoy", cost: max(4, min(cost, 31)))
            decoy = made
            return made
        }
    }
}
