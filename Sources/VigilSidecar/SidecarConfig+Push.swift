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
        let url = try r.string(p["url"], "pushgateway.url") ?? ""
        if let problem = pushgatewayURLProblem(url) { throw r.fail(p["url"] ?? node, "pushgateway.url", problem) }
        var client = PushgatewayClient.Configuration(url: url, job: try r.string(p["job"], "pushgateway.job") ?? "vigil")
        if let grouping = p["grouping"], case .mapping(let m) = grouping { client.grouping = m.compactMap { k, v in k.string.map { ($0, v.string ?? "") } } }
        client.auth = try parseCredentials(p, node, "pushgateway", r)
        if let tls = p["tls_config"] { client.tls = try parseTLS(tls, "pushgateway.tls_config", r) }
        return Push(client: client, interval: try r.duration(p["interval"], "pushgateway.interval", .pushInterval) ?? .seconds(30))
    }

    /// `otlp:`, and the metric pushes of its `metrics:` block, which go to the same collector
    /// (the endpoint with `/v1/metrics`, the same headers, credentials, compression, protocol and
    /// TLS) unless the block says otherwise.
    static func parseOTLP(_ node: Node, _ r: ConfigReader) throws(ConfigError) -> (OTLPConfiguration, OTLPMetricsConfiguration) {
        let o = try r.mapping(node, "otlp", allowed: [
            "endpoint", "protocol", "compression", "headers", "timeout", "basic_auth", "bearer_token", "bearer_token_file", "tls", "metrics",
        ])
        var otlp = OTLPConfiguration()
        if let endpoint = try r.string(o["endpoint"], "otlp.endpoint") { otlp.tracesEndpoint = signalURL(endpoint, "/v1/traces") }
        if let encoding = try parseProtocol(o["protocol"], "otlp.protocol", r) { otlp.encoding = encoding }
        if let gzip = try parseCompression(o["compression"], "otlp.compression", r) { otlp.gzip = gzip }
        if let headers = o["headers"] { otlp.headers = try parseHeaders(headers, "otlp.headers", r) }
        if let auth = try parseCredentials(o, node, "otlp", r) {
            if let set = otlp.headers.first(where: { $0.name.lowercased() == "authorization" }) {
                throw r.fail(o["headers"], "otlp.headers.\(set.name)", "set Authorization in one place: here, or with basic_auth, bearer_token or bearer_token_file")
            }
            otlp.headers.append(("Authorization", auth.headerValue))
        }
        if let timeout = try r.duration(o["timeout"], "otlp.timeout", .timeout) { otlp.timeout = timeout }
        if let tls = o["tls"] { otlp.tls = try parseTLS(tls, "otlp.tls", r) }
        var metrics = OTLPMetricsConfiguration(sameCollectorAs: otlp)
        if let block = o["metrics"] { try parseOTLPMetrics(block, into: &metrics, r) }
        return (otlp, metrics)
    }

    /// `otlp.metrics:` `enabled` (true once the block is there), `endpoint`, `protocol`,
    /// `compression`, `interval`, `timeout`, `export_timeout` and `headers` (added to `otlp`'s).
    static func parseOTLPMetrics(_ node: Node, into metrics: inout OTLPMetricsConfiguration, _ r: ConfigReader) throws(ConfigError) {
        let m = try r.mapping(node, "otlp.metrics", allowed: ["enabled", "endpoint", "protocol", "compression", "interval", "timeout", "export_timeout", "headers"])
        metrics.enabled = try r.bool(m["enabled"], "otlp.metrics.enabled") ?? true
        if let endpoint = try r.string(m["endpoint"], "otlp.metrics.endpoint") { metrics.endpoint = signalURL(endpoint, "/v1/metrics") }
        if let encoding = try parseProtocol(m["protocol"], "otlp.metrics.protocol", r) { metrics.encoding = encoding }
        if let gzip = try parseCompression(m["compression"], "otlp.metrics.compression", r) { metrics.gzip = gzip }
        if let interval = try r.duration(m["interval"], "otlp.metrics.interval", .exportInterval) { metrics.interval = interval }
        if let timeout = try r.duration(m["timeout"], "otlp.metrics.timeout", .timeout) { metrics.timeout = timeout }
        if let timeout = try r.duration(m["export_timeout"], "otlp.metrics.export_timeout", .timeout) { metrics.exportTimeout = timeout }
        if let headers = m["headers"] {
            let extra = try parseHeaders(headers, "otlp.metrics.headers", r)
            let names = Set(extra.map { $0.name.lowercased() })
            metrics.headers = metrics.headers.filter { !names.contains($0.name.lowercased()) } + extra
        }
    }

    /// An endpoint given as the collector's base URL gets the signal's path; one that ends in it is kept.
    static func signalURL(_ endpoint: String, _ path: String) -> String {
        endpoint.hasSuffix(path) ? endpoint : (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint) + path
    }

    static func parseProtocol(_ node: Node?, _ path: String, _ r: ConfigReader) throws(ConfigError) -> OTLPConfiguration.Encoding? {
        guard let proto = try r.string(node, path) else { return nil }
        guard let encoding = OTLPConfiguration.Encoding(rawValue: proto) else { throw r.fail(node, path, "\"\(proto)\" is not http/protobuf or http/json") }
        return encoding
    }

    static func parseCompression(_ node: Node?, _ path: String, _ r: ConfigReader) throws(ConfigError) -> Bool? {
        guard let compression = try r.string(node, path) else { return nil }
        guard ["gzip", "none"].contains(compression) else { throw r.fail(node, path, "\"\(compression)\" is not gzip or none") }
        return compression == "gzip"
    }

    /// `headers:`: each value a string, or `{file: path}` for a secret kept in a file.
    static func parseHeaders(_ node: Node, _ path: String, _ r: ConfigReader) throws(ConfigError) -> [(name: String, value: String)] {
        guard case .mapping(let m) = node else {
            throw r.fail(node, path, "expected a mapping of header names to values, like api-key: {file: /run/secrets/api-key}")
        }
        var headers: [(name: String, value: String)] = []
        for (key, value) in m {
            guard let name = key.string, !name.isEmpty else { throw r.fail(key, path, "header names must be strings") }
            if let problem = headerNameProblem(name) { throw r.fail(key, path, problem) }
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
            bytes = try readWholeFile(resolved, limit: 64 << 10, regularOnly: true)
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
        guard isOneLine(secret) else {
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
        try checkOTLPFiles(environment, signal: "TRACES", otlp.tls)
    }

    /// The TLS files of `signal`'s variables (`TRACES`, `METRICS`), and that `tls` has both halves
    /// of a client certificate or neither.
    static func checkOTLPFiles(_ environment: [String: String], signal: String, _ tls: TLSClientConfiguration) throws(ConfigError) {
        for (suffix, _, content) in OTLPConfiguration.tlsVariables {
            guard let (name, path) = OTLPConfiguration.variable(suffix, in: environment, signal: signal) else { continue }
            if let problem = TLSClientConfiguration.problem(reading: path, as: content) {
                throw ConfigError(file: "environment", line: nil, path: name, message: problem)
            }
        }
        if (tls.certFile == nil) != (tls.keyFile == nil) {
            let missing = tls.certFile == nil ? "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE" : "OTEL_EXPORTER_OTLP_CLIENT_KEY"
            throw ConfigError(file: "environment", line: nil, path: missing,
                              message: "not set, while the other half of the client certificate is: the certificate and its private key go together")
        }
    }
}
