import Vigil
import VigilSupport

/// Everything `vigil serve` runs from; see config/vigil.yml for the annotated reference.
public struct SidecarConfig: Sendable {
    public var listenHost = "127.0.0.1"
    public var listenPort = 9464
    public var metricsPath = "/metrics"
    /// TLS and basic auth for the metrics endpoint: from `--web.config.file` (`WebConfigFile`),
    /// never from this file, which refuses `auth:` and `tls:`.
    public var web = WebConfig()
    /// The file `web` was read from (`--web.config.file`), if any: watched while serving, so a
    /// changed file applies without a restart (a bad one is logged, and the previous config kept).
    public var webConfigFile: String?
    public var samplingInterval: Duration = .seconds(5)
    public var serviceName = "vigil"
    public var resourceAttributes: [(String, String)] = []
    public var plugins: [PluginResources] = []
    public var pushgateway: Push?
    public var otlp: OTLPConfiguration?
    /// OTLP metric pushes: `otlp.metrics` in the file, the `OTEL_METRIC*` variables; off by default.
    public var otlpMetrics = OTLPMetricsConfiguration()
    public var shutdownGrace: Duration = .seconds(10)
    /// What the file does that works but is likely not what its author meant (a matcher that
    /// selects every process); `vigil check` prints them and `vigil serve` logs them.
    public var warnings: [ConfigError] = []
    /// What a scrape may carry: `exclude_families`, `include_families`, `max_series_per_family`, `series_budget`.
    public var seriesLimits = SeriesLimits()

    public struct Push: Sendable {
        public var client: PushgatewayClient.Configuration
        public var interval: Duration
    }

    public init() {}

    /// Reads and checks a file; nothing starts when it is wrong.
    public static func load(path: String, environment: [String: String] = ProcessEnvironment.all) throws(ConfigError) -> SidecarConfig {
        try parse(try ConfigReader.text(of: path), file: path, environment: environment)
    }

    public static func parse(_ text: String, file: String, environment: [String: String] = [:]) throws(ConfigError) -> SidecarConfig {
        let r = ConfigReader(file: file)
        let root = try r.compose(text)
        var c = SidecarConfig()
        let top = try r.mapping(root, "", allowed: [
            "listen", "metrics_path", "auth", "tls", "sampling_interval", "service_name", "resource_attributes",
            "plugins", "pushgateway", "otlp", "shutdown_grace",
        ] + seriesKeys)
        if let listen = try r.string(top["listen"], "listen") {
            guard let (host, port) = Self.hostPort(listen) else {
                throw r.fail(top["listen"], "listen", "\"\(listen)\" is not host:port (try 127.0.0.1:9464 or [::1]:9464)")
            }
            (c.listenHost, c.listenPort) = (host, port)
        }
        if let path = try r.string(top["metrics_path"], "metrics_path") {
            if let problem = Self.metricsPathProblem(path) { throw r.fail(top["metrics_path"], "metrics_path", problem) }
            c.metricsPath = path
        }
        if let tls = top["tls"] {
            throw r.fail(tls, "tls", "TLS moved to the web config: remove tls: here and give vigil --web.config.file web.yml with tls_server_config: {cert_file: …, key_file: …} (the exporter-toolkit format; see config/web.yml)")
        }
        if let auth = top["auth"] {
            throw r.fail(auth, "auth", "SHA-256 credentials are gone: remove auth: here and give vigil --web.config.file web.yml with basic_auth_users: {prometheus: <bcrypt hash>}; \(WebConfig.howToHash). Bearer tokens are not supported: use basic auth or TLS client certificates (see config/web.yml)")
        }
        if let interval = try r.duration(top["sampling_interval"], "sampling_interval", .samplingInterval) { c.samplingInterval = interval }
        if let name = try r.string(top["service_name"], "service_name") { c.serviceName = name }
        if let attributes = top["resource_attributes"], case .mapping(let m) = attributes {
            c.resourceAttributes = m.compactMap { k, v in k.string.map { ($0, v.string ?? "") } }
        } else if let attributes = top["resource_attributes"] {
            throw r.fail(attributes, "resource_attributes", "expected a mapping of names to values, like deployment.environment: prod")
        }
        if let grace = try r.duration(top["shutdown_grace"], "shutdown_grace", .shutdownGrace) { c.shutdownGrace = grace }
        try c.parseSeriesLimits(top, r)
        var names = Set<String>()
        for (i, node) in try r.sequence(top["plugins"], "plugins").enumerated() {
            let plugin = try parsePlugin(node, "plugins[\(i)]", r, warnings: &c.warnings)
            guard names.insert(plugin.name).inserted else { throw r.fail(node, "plugins[\(i)].name", "\"\(plugin.name)\" is configured twice") }
            c.plugins.append(plugin)
        }
        if let node = top["pushgateway"] { c.pushgateway = try parsePushgateway(node, r) }
        if let node = top["otlp"] { (c.otlp, c.otlpMetrics) = try parseOTLP(node, r) }
        try c.applyEnvironment(environment, file: file)
        return c
    }

    static func parsePlugin(_ node: Node, _ path: String, _ r: ConfigReader, warnings: inout [ConfigError]) throws(ConfigError) -> PluginResources {
        let p = try r.mapping(node, path, allowed: ["name", "version", "user", "match", "include_descendants", "limits", "on_limit", "smaps"])
        guard let name = try r.string(p["name"], path + ".name"), !name.isEmpty else {
            throw r.fail(node, path + ".name", "every plugin needs a name (the plugin label of its metrics)")
        }
        let owners = try parseOwners(p["user"], path + ".user", r)
        let descendants = try r.bool(p["include_descendants"], path + ".include_descendants") ?? false
        var matchers: [ProcessMatcher] = []
        var matcherNodes: [Node] = []
        for (i, m) in try r.sequence(p["match"], path + ".match").enumerated() {
            let mp = "\(path).match[\(i)]"
            var rule = try r.mapping(m, mp, allowed: ["self", "pid", "pid_file", "comm", "exe", "cmdline", "cgroup", "user"])
            let matcherOwners = try parseOwners(rule.removeValue(forKey: "user"), mp + ".user", r)
            guard rule.count == 1, let (key, value) = rule.first else {
                throw r.fail(m, mp, "each match entry has exactly one of: self, pid, pid_file, comm, exe, cmdline, cgroup (and may add user:)")
            }
            let kp = mp + "." + key
            let parsed: ProcessMatcher.Rule
            switch key {
            case "self": parsed = .currentProcess
            case "pid":
                guard let pid = try r.int(value, kp, example: "1234"), pid > 0, pid <= Int(Int32.max) else { throw r.fail(value, kp, "a pid is a positive whole number") }
                parsed = .pid(Int32(pid))
            case "pid_file": parsed = .pidFile(try r.string(value, kp) ?? "")
            case "comm": parsed = .comm(try r.strings(value, kp) ?? [])
            case "exe": parsed = .exe(try r.strings(value, kp) ?? [])
            case "cmdline": parsed = .commandLine(try r.string(value, kp) ?? "")
            default: parsed = .cgroup(try r.string(value, kp) ?? "/")
            }
            do {
                matchers.append(try ProcessMatcher(parsed, includeDescendants: descendants, owners: matcherOwners))
                matcherNodes.append(value)
            } catch {
                throw r.fail(value, kp, error.description + " (plugin \"\(name)\"; RE2 syntax without back-references or look-around; try a pattern like \"worker\\\\.py --plugin=ocr\")")
            }
        }
        if matchers.isEmpty { throw r.fail(node, path + ".match", "plugin \"\(name)\" matches no process; add a match entry, for example - comm: ocr-worker") }
        var limits = ResourceLimits()
        if let node = p["limits"] {
            let l = try r.mapping(node, path + ".limits", allowed: ["memory", "cpu", "open_fds", "threads"])
            if let memory = try r.string(l["memory"], path + ".limits.memory") {
                do { limits.memoryBytes = try ByteSize.parse(memory) } catch { throw r.fail(l["memory"], path + ".limits.memory", error.description) }
            }
            limits.cpuRatio = try r.double(l["cpu"], path + ".limits.cpu", example: "0.5 for half a core, 2 for two cores")
            limits.openFDs = try r.int(l["open_fds"], path + ".limits.open_fds", example: "1024")
            limits.threads = try r.int(l["threads"], path + ".limits.threads", example: "64")
        }
        let version = try r.string(p["version"], path + ".version")
        let onLimit = try parseLimitPolicy(p["on_limit"], path + ".on_limit", limits: limits, matchers: matchers, r)
        let smaps = try r.bool(p["smaps"], path + ".smaps") ?? false
        let plugin = PluginResources(
            name: name, matchers: matchers, owners: owners, limits: limits, version: version, onLimit: onLimit, smaps: smaps)
        try checkTargets(plugin, node: node, path: path, matcherNodes: matcherNodes, r, warnings: &warnings)
        return plugin
    }

    /// `user:`: a user name or id, or a list of them; nil when absent.
    static func parseOwners(_ node: Node?, _ path: String, _ r: ConfigReader) throws(ConfigError) -> ProcessOwners? {
        guard let node else { return nil }
        let users: [String]
        if case .sequence = node { users = try r.strings(node, path) ?? [] } else { users = [try r.string(node, path) ?? ""] }
        do {
            return try ProcessOwners.resolving(users)
        } catch {
            throw r.fail(node, path, "\(error.description); give the user (or users) that own the plugin's processes, such as user: root or user: [www-data, 33]")
        }
    }

    /// Refuses what would let a limit policy signal processes that are not the plugin's: a
    /// matcher that selects every process, or a plugin whose owners are not given. Without a
    /// policy that signals, a matcher that selects everything is a warning.
    static func checkTargets(
        _ plugin: PluginResources, node: Node, path: String, matcherNodes: [Node], _ r: ConfigReader, warnings: inout [ConfigError]
    ) throws(ConfigError) {
        let signals: Bool
        if case .signal = plugin.onLimit?.action, plugin.onLimit?.dryRun == false { signals = true } else { signals = false }
        for (i, matcher) in plugin.matchers.enumerated() where matcher.matchesEverything {
            let message = "matches every process on the machine (an empty pattern, one that matches anything, or the root cgroup)"
            if signals {
                throw r.fail(matcherNodes[i], "\(path).match[\(i)]",
                             message + ", and on_limit would signal them all; match only plugin \"\(plugin.name)\"'s own processes")
            }
            warnings.append(r.fail(matcherNodes[i], "\(path).match[\(i)]", message + "; every process would count for plugin \"\(plugin.name)\""))
        }
        if signals, let index = plugin.matchers.firstIndex(where: { plugin.owners(of: $0) == nil }) {
            throw r.fail(node, path + ".user",
                         "plugin \"\(plugin.name)\" may signal processes (on_limit action: signal) but does not say whose they are, so another "
                             + "user's process with the same name or command line would be signalled too; add user: with the user that runs "
                             + "the plugin (for example user: root) to the plugin or to match[\(index)]")
        }
    }

    /// A plugin's `on_limit:`: what happens when one of its limits stays exceeded. The sidecar
    /// can watch or signal; opening circuit breakers is for hosts that run plugins in process.
    static func parseLimitPolicy(
        _ node: Node?, _ path: String, limits: ResourceLimits, matchers: [ProcessMatcher], _ r: ConfigReader
    ) throws(ConfigError) -> LimitPolicy? {
        guard let node else { return nil }
        let o = try r.mapping(node, path, allowed: ["for", "action", "signal", "dry_run", "max_targets", "escalate"])
        guard let name = try r.string(o["action"], path + ".action") else {
            throw r.fail(node, path + ".action", "on_limit needs an action: watch, signal or breaker")
        }
        let action: LimitPolicy.Action
        switch name {
        case "watch":
            action = .watch
        case "signal":
            let signal = try r.string(o["signal"], path + ".signal") ?? "TERM"
            guard let number = LimitPolicy.signal(named: signal) else {
                throw r.fail(o["signal"], path + ".signal",
                             "\"\(signal)\" is not a signal (try TERM, KILL, INT, HUP, QUIT, USR1, USR2 or a number from 1 to \(LimitPolicy.highestSignal))")
            }
            action = .signal(number)
        case "breaker":
            throw r.fail(o["action"], path + ".action",
                         "breaker opens a host's circuit breakers and the sidecar has none: it is for hosts that run plugins in process, "
                             + "through the library (ResourceSampler's onBreaker hook); here use signal or watch")
        default:
            throw r.fail(o["action"], path + ".action", "\"\(name)\" is not an action (try watch, signal or breaker)")
        }
        for key in ["signal", "max_targets", "escalate"] where name != "signal" {
            if let node = o[key] { throw r.fail(node, path + "." + key, "only used with action: signal (the action here is \(name))") }
        }
        var maxTargets = LimitPolicy.defaultMaxTargets
        if let n = try r.int(o["max_targets"], path + ".max_targets", example: "4") {
            guard n >= 1 else { throw r.fail(o["max_targets"], path + ".max_targets", "must be 1 or more (the most processes one action may signal)") }
            maxTargets = n
        }
        var escalation: LimitPolicy.Escalation?
        if let node = o["escalate"] {
            let e = try r.mapping(node, path + ".escalate", allowed: ["signal", "after"])
            let signal = try r.string(e["signal"], path + ".escalate.signal") ?? "KILL"
            guard let number = LimitPolicy.signal(named: signal) else {
                throw r.fail(e["signal"], path + ".escalate.signal", "\"\(signal)\" is not a signal (try KILL)")
            }
            guard let after = try r.duration(e["after"], path + ".escalate.after", .anyLength) else {
                throw r.fail(node, path + ".escalate.after", "escalate needs after: how long after the first signal (try 10s)")
            }
            escalation = LimitPolicy.Escalation(signal: number, after: after)
        }
        if let text = try r.string(o["for"], path + ".for"), text.hasPrefix("-") {
            throw r.fail(o["for"], path + ".for", "\"\(text)\" is negative; a limit stays exceeded for zero or more time (try 30s)")
        }
        let duration = try r.duration(o["for"], path + ".for", .anyLength)
        let dryRun = try r.bool(o["dry_run"], path + ".dry_run") ?? false
        guard action != .watch else { return LimitPolicy(for: duration ?? .zero, action: .watch, dryRun: dryRun) }
        guard let duration else {
            throw r.fail(node, path + ".for", "on_limit needs for: how long a limit must stay exceeded before the action (try 30s)")
        }
        guard ResourceKind.allCases.contains(where: { limits[$0] != nil }) else {
            throw r.fail(node, path, "acts when a limit stays exceeded, but the plugin has no limits; add limits: (for example memory: 512MiB) or remove on_limit")
        }
        if !dryRun, matchers.contains(where: { $0.rule == .currentProcess }) {
            throw r.fail(o["action"], path + ".action", "would signal vigil itself (a match entry is self); match only the plugin's own processes")
        }
        return LimitPolicy(for: duration, action: action, dryRun: dryRun, maxTargets: maxTargets, escalation: escalation)
    }

    /// `VIGIL_LISTEN`, `VIGIL_METRICS_PATH`, `VIGIL_SAMPLING_INTERVAL`, `VIGIL_PUSHGATEWAY_URL`
    /// win over the file; the `OTEL_EXPORTER_OTLP_*` variables over its `otlp:` section, and
    /// `OTEL_METRICS_EXPORTER`, `OTEL_METRIC_EXPORT_*` and `OTEL_EXPORTER_OTLP_[METRICS_]*` over
    /// `otlp.metrics` (the TLS files they name are checked now, as the file's are). Each value is
    /// checked as the file's is, with the same floors and ceilings (SidecarConfig+Environment.swift).
    public mutating func applyEnvironment(_ environment: [String: String], file: String) throws(ConfigError) {
        func bad(_ name: String, _ message: String) -> ConfigError { ConfigError(file: "environment", line: nil, path: name, message: message) }
        if let listen = environment["VIGIL_LISTEN"] {
            guard let (host, port) = Self.hostPort(listen) else { throw bad("VIGIL_LISTEN", "\"\(listen)\" is not host:port (try 127.0.0.1:9464)") }
            (listenHost, listenPort) = (host, port)
        }
        if let path = environment["VIGIL_METRICS_PATH"] {
            if let problem = Self.metricsPathProblem(path) { throw bad("VIGIL_METRICS_PATH", problem) }
            metricsPath = path
        }
        if let interval = environment["VIGIL_SAMPLING_INTERVAL"] {
            switch DurationRange.samplingInterval.parse(interval) {
            case .success(let d): samplingInterval = d
            case .failure(let problem): throw bad("VIGIL_SAMPLING_INTERVAL", problem.message)
            }
        }
        if let url = environment["VIGIL_PUSHGATEWAY_URL"] {
            if let problem = Self.pushgatewayURLProblem(url) { throw bad("VIGIL_PUSHGATEWAY_URL", problem) }
            if pushgateway == nil { pushgateway = Push(client: .init(url: url, job: "vigil"), interval: .seconds(30)) } else { pushgateway?.client.url = url }
        }
        if environment.keys.contains(where: { $0.hasPrefix("OTEL_EXPORTER_OTLP_") }) {
            let merged = OTLPConfiguration.fromEnvironment(environment, base: otlp ?? OTLPConfiguration())
            try Self.checkOTLPFiles(environment, merged)
            try Self.checkOTLPVariables(environment, signal: "TRACES", headers: merged.headers, timeout: merged.timeout)
            otlp = merged
        }
        if environment.keys.contains(where: { $0.hasPrefix("OTEL_EXPORTER_OTLP_") || $0.hasPrefix("OTEL_METRIC") || $0 == "OTEL_SDK_DISABLED" }) {
            do {
                otlpMetrics = try OTLPMetricsConfiguration.fromEnvironment(environment, base: otlpMetrics)
            } catch {
                throw bad(error.variable, error.message)
            }
            try Self.checkOTLPVariables(environment, signal: "METRICS", headers: otlpMetrics.headers, timeout: otlpMetrics.timeout)
            try Self.checkMetricExportVariables(environment, otlpMetrics)
            if otlpMetrics.enabled { try Self.checkOTLPFiles(environment, signal: "METRICS", otlpMetrics.tls) }
        }
    }

    static func hostPort(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }
}
