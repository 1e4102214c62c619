import Vigil
import VigilSupport

// The push targets' sections of vigil.yml, `pushgateway:` and `otlp:`, with their credentials
// and TLS settings, the keys and rules of Prometheus' `basic_auth`, `bearer_token[_file]` and
// `tls_config`. Secret files are read here, when the configuration is loaded (a reload reads
// them again); TLS files are checked here and read by libcurl at each connection.
extension SidecarConfig {
    /// `pushgateway:`.
    static func parsePushgateway(_ node: Node, _ r: ConfigReader) throws(ConfigError) -> Push {
        if case .mapping(let m) = node, let old = m.keys.first(where: { $0.string == "basic" }) {
            throw r.fail(old, "pushgateway.basic", "renamed basic_auth, as in Prometheus: basic_auth: {username: pusher, password_file: /run/secrets/pushgateway}")
        }
        let p = try r.mapping(node, "pushgateway", allowed: [
            "url", "job", "interval", "grouping", "basic_auth", "bearer_token", "bearer_token_file", "tls_config",
        ])
        guard let url = try r.string(p["url"], "pushgateway.url"), url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw r.fail(p["url"] ?? node, "pushgateway.url", "needs an http:// or https:// URL (try http://127.0.0.1:9091)")
        }
        var client = PushgatewayClient.Configuration(url: url, job: try r.string(p["job"], "pushgateway.job") ?? "vigil")
        if let grouping = p["grouping"], case .mapping(let m) = grouping { client.grouping = m.compactMap { k, v in k.string.map { ($0, v.string ?? "") } } }
        client.auth = try parseCredentials(p, node, "pushgateway", r)
        if let tls = p["tls_config"] { client.tls = try parseTLS(tls, "pushgateway.tls_config", r) }
        return Push(client: client, interval: try r.duration(p["interval"], "pushgateway.interval") ?? .seconds(30))
    }

    /// `otlp:`.
    static func parseOTLP(_ node: Node, _ r: ConfigReader) throws(ConfigError) -> OTLPConfiguration {
        let o = try r.mapping(node, "otlp", allowed: [
            "endpoint", "protocol", "compression", "headers", "timeout", "basic_auth", "bearer_token", "bearer_token_file", "tls",
        ])
        var otlp = OTLPConfiguration()
        if let endpoint = try r.string(o["endpoint"], "otlp.endpoint") {
            otlp.tracesEndpoint = endpoint.hasSuffix("/v1/traces") ? endpoint : (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint) + "/v1/traces"
        }
        if let proto = try r.string(o["protocol"], "otlp.protocol") {
            guard let encoding = OTLPConfiguration.Encoding(rawValue: proto) else { throw r.fail(o["protocol"], "otlp.protocol", "\"\(proto)\" is not http/protobuf or http/json") }
            otlp.encoding = encoding
        }
        if let compression = try r.string(o["compression"], "otlp.compression") {
            guard ["gzip", "none"].contains(compression) else { throw r.fail(o["compression"], "otlp.compression", "\"\(compression)\" is not gzip or none") }
            otlp.gzip = compression == "gzip"
        }
        if let headers = o["headers"] { otlp.headers = try parseHeaders(headers, "otlp.headers", r) }
        if let auth = try parseCredentials(o, node, "otlp", r) {
            if let set = otlp.headers.first(where: { $0.name.lowercased() == "authorization" }) {
                throw r.fail(o["headers"], "otlp.headers.\(set.name)", "set Authorization in one place: here, or with basic_auth, bearer_token or bearer_token_file")
            }
            otlp.headers.append(("Authorization", auth.headerValue))
        }
        if let timeout = try r.duration(o["timeout"], "otlp.timeout") { otlp.timeout = timeout }
        if let tls = o["tls"] { otlp.tls = try parseTLS(tls, "otlp.tls", r) }
        return otlp
    }

    /// `headers:`: each value a string, or `{file: path}` for a secret kept in a file.
    static func parseHeaders(_ node: Node, _ path: String, _ r: ConfigReader) throws(ConfigError) -> [(name: String, value: String)] {
        guard case .mapping(let m) = node else {
            throw r.fail(node, path, "expected a mapping of header names to values, like api-key: {file: /run/secrets/api-key}")
        }
        var headers: [(name: String, value: String)] = []
        for (key, value) in m {
            guard let name = key.string, !name.isEmpty else { throw r.fail(key, path, "header names must be strings") }
            let p = path + "." + name
            if case .mapping = value {
                let f = try r.mapping(value, p, allowed: ["file"])
                guard let secret = try readSecret(f["file"], p + ".file", r) else { throw r.fail(value, p, "needs file: the path of the file that holds the value") }
                headers.append((name, secret))
            } else {
                headers.append((name, try checkSecret(try r.string(value, p) ?? "", value, p, r)))
            }
        }
        return headers
    }

    /// `basic_auth: {username, password | password_file}`, `bearer_token` or `bearer_token_file`,
    /// at most one of them, from the section `section` (at `node`).
    static func parseCredentials(_ section: [String: Node], _ node: Node, _ path: String, _ r: ConfigReader) throws(ConfigError) -> PushAuthentication? {
        let given = ["basic_auth", "bearer_token", "bearer_token_file"].filter { section[$0] != nil }
        guard given.count <= 1 else {
            throw r.fail(section[given[1]], "\(path).\(given[1])", "set only one of \(given.joined(separator: " and ")) (one Authorization header is sent)")
        }
        if let token = try r.string(section["bearer_token"], path + ".bearer_token") {
            return .bearer(token: try checkSecret(token, section["bearer_token"], path + ".bearer_token", r))
        }
        if let token = try readSecret(section["bearer_token_file"], path + ".bearer_token_file", r) { return .bearer(token: token) }
        guard let basic = section["basic_auth"] else { return nil }
        let bp = path + ".basic_auth"
        let b = try r.mapping(basic, bp, allowed: ["username", "password", "password_file"])
        guard let username = try r.string(b["username"], bp + ".username"), !username.isEmpty else {
            throw r.fail(basic, bp + ".username", "basic_auth needs a username")
        }
        guard !username.contains(":") else { throw r.fail(b["username"], bp + ".username", "a user name cannot hold \":\" (HTTP basic authentication splits on it)") }
        switch (b["password"], b["password_file"]) {
        case (let inline?, nil):
            return .basic(username: username, password: try checkSecret(try r.string(inline, bp + ".password") ?? "", inline, bp + ".password", r))
        case (nil, let file?):
            return .basic(username: username, password: try readSecret(file, bp + ".password_file", r) ?? "")
        case (_?, _?):
            throw r.fail(b["password_file"], bp + ".password_file", "set password or password_file, not both")
        case (nil, nil):
            throw r.fail(basic, bp, "needs password_file (the file that holds the password) or password")
        }
    }

    /// `tls_config:` (`tls:` under `otlp:`): `ca_file`, `cert_file` and `key_file` (PEM, checked
    /// now), `server_name`, `insecure_skip_verify`.
    static func parseTLS(_ node: Node, _ path: String, _ r: ConfigReader) throws(ConfigError) -> TLSClientConfiguration {
        let t = try r.mapping(node, path, allowed: ["ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify"])
        func file(_ key: String, _ content: TLSClientConfiguration.PEMContent) throws(ConfigError) -> String? {
            guard let name = try r.string(t[key], path + "." + key) else { return nil }
            let resolved = resolve(name, r)
            if let problem = TLSClientConfiguration.problem(reading: resolved, as: content) { throw r.fail(t[key], path + "." + key, problem) }
            return resolved
        }
        var tls = TLSClientConfiguration()
        tls.caFile = try file("ca_file", .certificate)
        tls.certFile = try file("cert_file", .certificate)
        tls.keyFile = try file("key_file", .privateKey)
        if (tls.certFile == nil) != (tls.keyFile == nil) {
            let (missing, present) = tls.certFile == nil ? ("cert_file", "key_file") : ("key_file", "cert_file")
            throw r.fail(t[present], path + "." + missing, "\(present) needs \(missing) too: the client certificate and its private key go together")
        }
        if let name = try r.string(t["server_name"], path + ".server_name") {
            guard !name.isEmpty, !name.contains(where: { $0 == "/" || $0 == ":" || $0 == "@" || $0.isWhitespace }) else {
                throw r.fail(t["server_name"], path + ".server_name", "\"\(name)\" is not a host name (try collector.example.com)")
            }
            tls.serverName = name
        }
        tls.insecureSkipVerify = try r.bool(t["insecure_skip_verify"], path + ".insecure_skip_verify") ?? false
        return tls
    }

    /// The secret in the file named at `node`: read now, its trailing line break dropped.
    static func readSecret(_ node: Node?, _ path: String, _ r: ConfigReader) throws(ConfigError) -> String? {
        guard let name = try r.string(node, path) else { return nil }
        let resolved = resolve(name, r)
        var bytes: [UInt8]
        do {
            bytes = try readWholeFile(resolved)
        } catch {
            throw r.fail(node, path, "cannot read \"\(resolved)\": \(error.reason)")
        }
        while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard !bytes.isEmpty else { throw r.fail(node, path, "\"\(resolved)\" is empty; it should hold the secret alone") }
        return try checkSecret(String(decoding: bytes, as: UTF8.self), node, path, r, file: resolved)
    }

    /// A secret that can go into a header: one line, no control characters. The error never
    /// quotes the secret.
    static func checkSecret(_ secret: String, _ node: Node?, _ path: String, _ r: ConfigReader, file: String? = nil) throws(ConfigError) -> String {
        guard secret.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            let whose = file.map { "\"\($0)\" holds" } ?? "the value holds"
            throw r.fail(node, path, "\(whose) a line break or control character; it should hold the secret alone, on one line")
        }
        return secret
    }

    /// A relative path is taken from the configuration file's folder, as Prometheus does.
    static func resolve(_ path: String, _ r: ConfigReader) -> String {
        guard !path.hasPrefix("/"), let slash = r.file.lastIndex(of: "/") else { return path }
        return String(r.file[...slash]) + path
    }

    /// The `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE`, `_CLIENT_CERTIFICATE` and `_CLIENT_KEY` files,
    /// checked as the `otlp.tls` ones are; an error names the variable.
    static func checkOTLPFiles(_ environment: [String: String], _ otlp: OTLPConfiguration) throws(ConfigError) {
        for (suffix, _, content) in OTLPConfiguration.tlsVariables {
            guard let (name, path) = OTLPConfiguration.variable(suffix, in: environment) else { continue }
            if let problem = TLSClientConfiguration.problem(reading: path, as: content) {
                throw ConfigError(file: "environment", line: nil, path: name, message: problem)
            }
        }
        if (otlp.tls.certFile == nil) != (otlp.tls.keyFile == nil) {
            let missing = otlp.tls.certFile == nil ? "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE" : "OTEL_EXPORTER_OTLP_CLIENT_KEY"
            throw ConfigError(file: "environment", line: nil, path: missing,
                              message: "not set, while the other half of the client certificate is: the certificate and its private key go together")
        }
    }
}
