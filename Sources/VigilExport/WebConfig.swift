/// The exporter-toolkit web configuration: what node_exporter and Prometheus read from
/// `--web.config.file` (TLS, HTTP response headers, bcrypt basic auth), as a value. The sidecar
/// parses it from that file (`WebConfigFile` in VigilSidecar); a host builds it in code:
///
///     var web = WebConfig()
///     web.tls = WebConfig.TLS(certificate: .file("/etc/vigil/tls.crt"), privateKey: .file("/etc/vigil/tls.key"))
///     web.basicAuthUsers = ["prometheus": "$2y$10$…"]  // htpasswd -nBC 10 "" | tr -d ':\n'
///
/// Format: https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md
public struct WebConfig: Sendable, Equatable {
    /// `tls_server_config`: serve HTTPS. Nil (the default): plain HTTP.
    public var tls: TLS?
    /// `http_server_config.http2`. Accepted for compatibility and otherwise ignored: Vigil serves
    /// HTTP/1.1 (over TLS it offers only `http/1.1` by ALPN, so HTTP/2 clients fall back to it).
    public var http2 = true
    /// `http_server_config.headers`: added to every response. Only the names in
    /// `WebConfig.allowedHeaders` may be set, as in exporter-toolkit.
    public var headers: [Header] = []
    /// `basic_auth_users`: user name → bcrypt hash (`$2a$`, `$2b$` or `$2y$`). Empty (the
    /// default): no authentication. Otherwise every path asks for one of these users.
    public var basicAuthUsers: [String: String] = [:]
    /// `http_server_config.unauthenticated_probes` (Vigil's own key; exporter-toolkit has none):
    /// `GET /-/healthy` and `/-/ready` are answered without credentials, so that an orchestrator's
    /// probes (Kubernetes `httpGet`) work beside basic auth. They tell only "up" and "ready".
    /// False (the default): every path asks for credentials when there are users.
    public var unauthenticatedProbes = false

    /// No TLS, no extra headers, no authentication: what Vigil does without a web config.
    public init() {}

    /// One `http_server_config.headers` entry.
    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The response headers exporter-toolkit lets a web config set, each with the values it
    /// accepts (nil: any value).
    public static let allowedHeaders: [(name: String, values: [String]?)] = [
        ("Content-Security-Policy", nil),
        ("X-Frame-Options", ["deny", "sameorigin"]),
        ("X-Content-Type-Options", ["nosniff"]),
        ("X-XSS-Protection", nil),
        ("Strict-Transport-Security", nil),
    ]

    /// Checks what can be checked without reading a file: every hash is bcrypt, every header is
    /// allowed with an allowed value, and the TLS settings agree with each other (see
    /// `TLS.validate()`). `check()` also reads the certificate files.
    public func validate() throws(WebConfigError) {
        for (user, hash) in basicAuthUsers.sorted(by: { $0.key < $1.key }) where !Self.isBcryptHash(hash) {
            throw WebConfigError(key: "basic_auth_users.\(user)", message: Self.notBcryptMessage)
        }
        for header in headers {
            guard let allowed = Self.allowedHeaders.first(where: { $0.name == header.name }) else {
                throw WebConfigError(key: "http_server_config.headers.\(header.name)",
                                     message: "this header cannot be set; allowed: \(Self.allowedHeaders.map(\.name).joined(separator: ", "))")
            }
            if let values = allowed.values, !values.contains(header.value) {
                throw WebConfigError(key: "http_server_config.headers.\(header.name)",
                                     message: "\"\(header.value)\" is not allowed; use one of: \(values.joined(separator: ", "))")
            }
        }
        try tls?.validate()
    }

    /// `validate()`, then loads the certificate, key and CA the way the server will (so a file
    /// that cannot be read, is not PEM, or a key that does not match its certificate, is found
    /// before serving). What `vigil check --web.config.file` runs.
    public func check() throws(WebConfigError) {
        try validate()
        if let tls { _ = try TLSContextReloader.makeContext(tls) }
    }

    /// The bcrypt cost above which a web config is warned about: each wrong password then costs
    /// a quarter of a second of CPU or more (cost 10, htpasswd's default, costs about 60 ms).
    public static let costlyBcryptCost = 12

    /// The users whose hash costs more than `costlyBcryptCost`, sorted, with their cost.
    public var costlyHashUsers: [(user: String, cost: Int)] {
        basicAuthUsers.compactMap { user, hash in
            let b = Array(hash.utf8)
            guard b.count >= 6, let cost = Int(String(decoding: b[4...5], as: UTF8.self)), cost > Self.costlyBcryptCost else { return nil }
            return (user, cost)
        }.sorted { $0.user < $1.user }
    }

    /// A warning for an operator, or nil: which users' hashes are costly, and how to make cheaper ones.
    public var costlyHashWarning: String? {
        let costly = costlyHashUsers
        guard !costly.isEmpty else { return nil }
        let list = costly.map { "\($0.user) (cost \($0.cost))" }.joined(separator: ", ")
        return "basic_auth_users: bcrypt cost above \(Self.costlyBcryptCost) for \(list): every wrong password costs seconds of CPU; "
            + "hash again at cost 10 to 12 (" + Self.howToHash + ")"
    }

    /// How to make a bcrypt hash, said in every error about one.
    public static let howToHash = #"make one with: htpasswd -nBC 10 "" | tr -d ':\n'  (or python3 -c 'import bcrypt, getpass; print(bcrypt.hashpw(getpass.getpass().encode(), bcrypt.gensalt(10)).decode())')"#

    /// What an error about a hash that is not bcrypt says.
    public static let notBcryptMessage = "expected a bcrypt hash ($2y$10$ and 53 more characters), never the password itself; " + howToHash

    /// Whether `hash` is a modular-crypt bcrypt hash: `$2a$`, `$2b$` or `$2y$`, a cost from 04 to
    /// 31, then 22 characters of salt and 31 of hash in bcrypt's base64 alphabet.
    public static func isBcryptHash(_ hash: String) -> Bool {
        let b = Array(hash.utf8)
        guard b.count == 60, b[0] == UInt8(ascii: "$"), b[1] == UInt8(ascii: "2"), b[3] == UInt8(ascii: "$"), b[6] == UInt8(ascii: "$"),
              [UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "y")].contains(b[2]),
              let cost = Int(String(decoding: b[4...5], as: UTF8.self)), (4...31).contains(cost) else { return false }
        return b[7...].allSatisfy { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "/") || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) }
    }
}

/// A web configuration that cannot be served: which key (as written in web.yml, dotted:
/// `tls_server_config.cert_file`, `basic_auth_users.alice`) and what is wrong with it, with how
/// to fix it.
public struct WebConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The key the problem is at, dotted from the top of the file.
    public var key: String
    /// What is wrong, and how to fix it.
    public var message: String

    public init(key: String, message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { "\(key): \(message)" }
}
