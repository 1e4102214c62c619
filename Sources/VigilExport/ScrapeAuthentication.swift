import VigilSupport

extension MetricsServer {
    /// Credentials a scraper must present. Passwords and tokens are kept only as SHA-256 hashes.
    public enum Authentication: Sendable {
        /// `Authorization: Bearer <token>`; the hash is of the token, in lowercase hex.
        case bearer(tokenSHA256: String)
        /// `Authorization: Basic …`; the hash is of the password, in lowercase hex.
        case basic(username: String, passwordSHA256: String)

        /// Whether an `Authorization` header value (nil when the request had none) carries these
        /// credentials. Compares in constant time, so a wrong guess tells nothing of the right one.
        func accepts(authorization header: String?) -> Bool {
            let header = header ?? ""
            switch self {
            case .bearer(let hash):
                guard header.hasPrefix("Bearer ") else { return false }
                return SHA256.hex(Array(header.dropFirst(7).utf8)).constantTimeEquals(hash.lowercased())
            case .basic(let username, let hash):
                guard header.hasPrefix("Basic "), let decoded = Base64.decode(String(header.dropFirst(6))) else { return false }
                let text = String(decoding: decoded, as: UTF8.self)
                guard let colon = text.firstIndex(of: ":") else { return false }
                let userOK = String(text[..<colon]).constantTimeEquals(username)
                let passwordOK = SHA256.hex(Array(text[text.index(after: colon)...].utf8)).constantTimeEquals(hash.lowercased())
                return userOK && passwordOK
            }
        }

        /// The `WWW-Authenticate` value sent with a 401 (RFC 9110 §11.6.1).
        var challenge: String {
            switch self {
            case .basic: "Basic realm=\"vigil\""
            case .bearer: "Bearer realm=\"vigil\""
            }
        }
    }
}
