import Vigil
import VigilSupport

/// Reads the exporter-toolkit web configuration file that `--web.config.file` names, the same
/// file node_exporter and Prometheus read (see config/web.yml), into a `WebConfig`. Relative
/// paths in it are relative to the file's own directory, as in exporter-toolkit. Every problem
/// is a `ConfigError` with the line: `web.yml:3: tls_server_config.key_file: cannot read …`.
public enum WebConfigFile {
    /// Reads, parses and checks a web config: its keys, its hashes, and that the certificate,
    /// key and CA files load. What `vigil check --web.config.file` and `vigil serve` run.
    public static func load(path: String) throws(ConfigError) -> WebConfig {
        let text = try ConfigReader.text(of: path)
        let (config, nodes) = try read(text, file: path, directory: directory(of: path))
        do {
            try config.check()
        } catch {
            throw located(error, file: path, nodes: nodes)
        }
        return config
    }

    /// Parses and validates a web config without reading the files it names.
    /// - Parameter directory: what relative paths in it are relative to.
    public static func parse(_ text: String, file: String, directory: String = ".") throws(ConfigError) -> WebConfig {
        let (config, nodes) = try read(text, file: file, directory: directory)
        do {
            try config.validate()
        } catch {
            throw located(error, file: file, nodes: nodes)
        }
        return config
    }

    /// The keys `tls_server_config` takes, in exporter-toolkit's order.
    static let tlsKeys = [
        "cert", "key", "client_ca", "cert_file", "key_file", "client_auth_type", "client_ca_file", "client_allowed_sans",
        "min_version", "max_version", "cipher_suites", "prefer_server_cipher_suites", "curve_preferences",
    ]

    /// The config and, by dotted key, the node each value came from (for the lines of errors
    /// found after parsing).
    static func read(_ text: String, file: String, directory: String) throws(ConfigError) -> (WebConfig, [String: Node]) {
        let r = ConfigReader(file: file)
        let root = try r.compose(text)
        var nodes: [String: Node] = [:]
        var config = WebConfig()
        let top = try r.mapping(value(root), "", allowed: ["tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"])
        if let node = top["rate_limit"] {
            throw r.fail(node, "rate_limit", "not supported by vigil; remove it (vigil limits connections in all and per client address, and backs off addresses that keep sending wrong passwords, instead)")
        }
        if let node = value(top["tls_server_config"]) {
            nodes["tls_server_config"] = node
            config.tls = try tls(node, r, directory: directory, nodes: &nodes)
        }
        if let node = value(top["http_server_config"]) {
            let h = try r.mapping(node, "http_server_config", allowed: ["http2", "headers", "unauthenticated_probes"])
            config.http2 = try r.bool(value(h["http2"]), "http_server_config.http2") ?? true
            config.unauthenticatedProbes = try r.bool(value(h["unauthenticated_probes"]), "http_server_config.unauthenticated_probes") ?? false
            if let headers = value(h["headers"]) {
                let names = WebConfig.allowedHeaders.map(\.name)
                let m = try r.mapping(headers, "http_server_config.headers", allowed: names)
                for name in names {
                    let key = "http_server_config.headers." + name
                    // Blank leaves the header unset, as in exporter-toolkit.
                    guard let node = m[name], let text = try r.string(node, key), !text.isEmpty else { continue }
                    nodes[key] = node
                    config.headers.append(WebConfig.Header(name: name, value: text))
                }
            }
        }
        if let node = value(top["basic_auth_users"]) {
            guard case .mapping(let users) = node else {
                throw r.fail(node, "basic_auth_users", "expected a mapping of user names to bcrypt hashes, like prometheus: $2y$10$…")
            }
            for (user, hash) in users {
                guard let name = user.string else { throw r.fail(user, "basic_auth_users", "user names must be strings") }
                let key = "basic_auth_users." + name
                guard let text = try r.string(hash, key) else { continue }
                nodes[key] = hash
                config.basicAuthUsers[name] = text
            }
        }
        return (config, nodes)
    }

    private static func tls(_ node: Node, _ r: ConfigReader, directory: String, nodes: inout [String: Node]) throws(ConfigError) -> WebConfig.TLS? {
        let t = try r.mapping(node, "tls_server_config", allowed: tlsKeys)
        func string(_ key: String) throws(ConfigError) -> String? {
            guard let node = value(t[key]) else { return nil }
            nodes["tls_server_config." + key] = node
            let text = try r.string(node, "tls_server_config." + key)
            return text?.isEmpty == true ? nil : text
        }
        func source(file: String, inline: String, what: String) throws(ConfigError) -> WebConfig.TLS.Source? {
            let path = try string(file), pem = try string(inline)
            if path != nil, pem != nil {
                throw r.fail(t[inline], "tls_server_config." + inline, "give \(file) or \(inline), not both: \(inline) is the \(what) itself in PEM, \(file) a file that holds it")
            }
            if let path { return .file(resolve(path, against: directory)) }
            return pem.map { .pem($0) }
        }
        let certificate = try source(file: "cert_file", inline: "cert", what: "certificate")
        let privateKey = try source(file: "key_file", inline: "key", what: "private key")
        let clientCA = try source(file: "client_ca_file", inline: "client_ca", what: "client CA certificate")
        let authName = try string("client_auth_type")
        // All of them empty: no TLS, as in exporter-toolkit (the other keys then change nothing).
        if certificate == nil, privateKey == nil, clientCA == nil, authName == nil { return nil }
        guard let certificate else {
            throw r.fail(node, "tls_server_config.cert_file", "missing: TLS needs the server certificate (cert_file: server.crt, relative to this file's directory)")
        }
        guard let privateKey else {
            throw r.fail(node, "tls_server_config.key_file", "missing: TLS needs the certificate's private key (key_file: server.key)")
        }
        var tls = WebConfig.TLS(certificate: certificate, privateKey: privateKey)
        tls.clientCA = clientCA
        if let authName {
            guard let auth = WebConfig.ClientAuth(rawValue: authName) else {
                throw r.fail(t["client_auth_type"], "tls_server_config.client_auth_type",
                             "\"\(authName)\" is not a client auth type; use one of: \(WebConfig.ClientAuth.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            tls.clientAuth = auth
        }
        for (key, keyPath) in [("min_version", \WebConfig.TLS.minVersion), ("max_version", \WebConfig.TLS.maxVersion)] {
            guard let name = try string(key) else { continue }
            guard let version = WebConfig.Version(rawValue: name) else {
                throw r.fail(t[key], "tls_server_config." + key,
                             "\"\(name)\" is not a TLS version; use one of: \(WebConfig.Version.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            tls[keyPath: keyPath] = version
        }
        tls.clientAllowedSANs = try names("client_allowed_sans", t, r, nodes: &nodes, unknown: "") { $0 }
        tls.cipherSuites = try names("cipher_suites", t, r, nodes: &nodes,
                                     unknown: "is not a cipher suite vigil knows; use Go's names, one of: \(WebConfig.CipherSuite.all.map(\.name).joined(separator: ", "))",
                                     WebConfig.CipherSuite.init(name:))
        tls.curves = try names("curve_preferences", t, r, nodes: &nodes,
                               unknown: "is not a curve vigil knows; use Go's names, one of: \(WebConfig.Curve.all.map(\.name).joined(separator: ", "))",
                               WebConfig.Curve.init(name:))
        tls.preferServerCipherSuites = try r.bool(value(t["prefer_server_cipher_suites"]), "tls_server_config.prefer_server_cipher_suites") ?? true
        return tls
    }

    /// A list of names, each turned into a value by `lookup`; a name it does not know (nil) is
    /// an error that says `unknown`.
    private static func names<T>(_ key: String, _ t: [String: Node], _ r: ConfigReader, nodes: inout [String: Node],
                                 unknown: String, _ lookup: (String) -> T?) throws(ConfigError) -> [T] {
        let path = "tls_server_config." + key
        guard let node = value(t[key]) else { return [] }
        nodes[path] = node
        var result: [T] = []
        for (i, entry) in try r.sequence(node, path).enumerated() {
            let name = try r.string(entry, "\(path)[\(i)]") ?? ""
            guard let value = lookup(name) else { throw r.fail(entry, "\(path)[\(i)]", "\"\(name)\" \(unknown)") }
            result.append(value)
        }
        return result
    }

    /// An error found after parsing, at the line of the key it names (or of the nearest key
    /// above it).
    static func located(_ error: WebConfigError, file: String, nodes: [String: Node]) -> ConfigError {
        var key = error.key
        while !key.isEmpty {
            if let node = nodes[key] { return ConfigError(file: file, line: node.mark?.line, path: error.key, message: error.message) }
            key = key.lastIndex(of: ".").map { String(key[..<$0]) } ?? ""
        }
        return ConfigError(file: file, line: nil, path: error.key, message: error.message)
    }

    /// The node, or nil for a key with no value (`tls_server_config:` alone), which YAML reads as null.
    static func value(_ node: Node?) -> Node? {
        guard let node else { return nil }
        if case .scalar(let scalar) = node, scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) { return nil }
        return node
    }

    /// The directory a path names a file in, "." for a bare name.
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// `path` as it is, when absolute; otherwise below `directory`.
    static func resolve(_ path: String, against directory: String) -> String {
        path.hasPrefix("/") || directory == "." ? path : (directory.hasSuffix("/") ? directory + path : directory + "/" + path)
    }
}
