import Foundation
import Vigil
import XCTest
@testable import VigilSidecar

final class ConfigTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testTheBundledAnnotatedConfigIsValid() throws {
        let config = try SidecarConfig.load(path: Self.root.appendingPathComponent("config/vigil.yml").path, environment: [:])
        XCTAssertEqual(config.listenHost, "127.0.0.1")
        XCTAssertEqual(config.listenPort, 9464)
        XCTAssertEqual(config.plugins.map(\.name), ["ocr", "transcoder"])
        XCTAssertEqual(config.plugins[0].limits, ResourceLimits(memoryBytes: 512 << 20, cpuRatio: 1.5, openFDs: 1024, threads: 64))
        XCTAssertTrue(config.plugins[0].matchers.allSatisfy(\.includeDescendants))
        XCTAssertEqual(config.plugins[0].version, "2.4.1")
        XCTAssertEqual(config.plugins[0].onLimit, LimitPolicy(
            for: .seconds(30), action: .signal(SIGTERM), dryRun: true, maxTargets: 16, escalation: .init(signal: SIGKILL, after: .seconds(10))))
        XCTAssertEqual(config.plugins[0].owners, ProcessOwners(uids: [0]))
        XCTAssertEqual(config.warnings, [])
        XCTAssertEqual(config.plugins[1].limits.memoryBytes, 2 << 30)
        XCTAssertNil(config.plugins[1].version)
        XCTAssertNil(config.plugins[1].onLimit, "without on_limit, limits are only watched")
    }

    func testVersionAndLimitPolicies() throws {
        func plugin(_ extra: String) throws -> PluginResources {
            let yaml = "plugins:\n  - name: p\n    user: root\n    match: [{comm: x}]\n    limits: {memory: 1GiB}\n" + extra
            return try XCTUnwrap(SidecarConfig.parse(yaml, file: "p.yml").plugins.first)
        }
        XCTAssertEqual(try plugin("    version: \"1.10\"\n").version, "1.10")
        XCTAssertEqual(try plugin("    on_limit: {for: 500ms, action: signal, signal: KILL}\n").onLimit,
                       LimitPolicy(for: .milliseconds(500), action: .signal(SIGKILL)))
        XCTAssertEqual(try plugin("    on_limit: {for: 1m, action: signal}\n").onLimit,
                       LimitPolicy(for: .seconds(60), action: .signal(SIGTERM)), "TERM unless told")
        XCTAssertEqual(try plugin("    on_limit: {for: 0s, action: signal, signal: 10, dry_run: true}\n").onLimit,
                       LimitPolicy(for: .zero, action: .signal(SIGUSR1), dryRun: true))
        XCTAssertEqual(try plugin("    on_limit: {action: watch}\n").onLimit, LimitPolicy(for: .zero, action: .watch))
        for (name, number) in LimitPolicy.signalNames {
            XCTAssertEqual(try plugin("    on_limit: {for: 1s, action: signal, signal: \(name)}\n").onLimit?.action, .signal(number))
        }
    }

    /// A plugin that may signal says whose processes it signals, and selects less than every
    /// process; `vigil check` refuses the file otherwise and says what to add.
    func testAPolicyThatSignalsNeedsOwnersAndAMatcherThatDoesNotSelectEverything() throws {
        let signalling = "    limits: {memory: 64MiB}\n    on_limit: {action: signal, signal: KILL, for: 1s}\n"
        let noOwner = "plugins:\n  - name: t\n    match:\n      - cmdline: \"transcode\\\\.py --worker\"\n" + signalling
        XCTAssertThrowsError(try SidecarConfig.parse(noOwner, file: "v.yml")) {
            XCTAssertEqual("\($0)", "v.yml:2: plugins[0].user: plugin \"t\" may signal processes (on_limit action: signal) but does not say "
                + "whose they are, so another user's process with the same name or command line would be signalled too; add user: with "
                + "the user that runs the plugin (for example user: root) to the plugin or to match[0]")
        }
        let owned = try SidecarConfig.parse(noOwner.replacingOccurrences(of: "  - name: t\n", with: "  - name: t\n    user: [root, \"1000\"]\n"), file: "v.yml")
        XCTAssertEqual(owned.plugins[0].owners, ProcessOwners(uids: [0, 1000]))
        let perMatcher = try SidecarConfig.parse(
            "plugins:\n  - name: t\n    match:\n      - {cmdline: worker, user: nobody}\n" + signalling, file: "v.yml")
        XCTAssertEqual(perMatcher.plugins[0].matchers[0].owners, ProcessOwners(uids: [65534]))
        for (entry, line) in [("cmdline: \"\"", 5), ("cmdline: \".*\"", 5), ("cgroup: /", 5)] {
            let everything = "plugins:\n  - name: t\n    user: root\n    match:\n      - \(entry)\n" + signalling
            XCTAssertThrowsError(try SidecarConfig.parse(everything, file: "v.yml"), entry) {
                XCTAssertTrue("\($0)".hasPrefix("v.yml:\(line): plugins[0].match[0]: matches every process on the machine"), "\($0)")
                XCTAssertTrue("\($0)".hasSuffix("on_limit would signal them all; match only plugin \"t\"'s own processes"), "\($0)")
            }
            let watched = try SidecarConfig.parse("plugins:\n  - name: t\n    match:\n      - \(entry)\n", file: "v.yml")
            XCTAssertEqual(watched.warnings.map(\.description), [
                "v.yml:4: plugins[0].match[0]: matches every process on the machine (an empty pattern, one that matches anything, "
                    + "or the root cgroup); every process would count for plugin \"t\"",
            ], entry)
        }
        let unknown = "plugins:\n  - name: t\n    user: no-such-user-anywhere\n    match: [{comm: x}]\n"
        XCTAssertThrowsError(try SidecarConfig.parse(unknown, file: "v.yml")) {
            XCTAssertTrue("\($0)".hasPrefix("v.yml:3: plugins[0].user: user \"no-such-user-anywhere\" is not a user on this machine"), "\($0)")
        }
        let policy = try SidecarConfig.parse(
            "plugins:\n  - name: t\n    user: root\n    match: [{comm: x}]\n    limits: {memory: 64MiB}\n"
                + "    on_limit: {action: signal, for: 5s, max_targets: 2, escalate: {after: 10s}}\n", file: "v.yml")
        XCTAssertEqual(policy.plugins[0].onLimit, LimitPolicy(
            for: .seconds(5), action: .signal(SIGTERM), maxTargets: 2, escalation: .init(signal: SIGKILL, after: .seconds(10))))
    }

    func testLimitPolicyMistakesGetExactMessages() {
        let plugin = "plugins:\n  - name: p\n    match: [{comm: x}]\n    limits: {memory: 1GiB}\n    on_limit:\n"
        let cases: [(String, String)] = [
            ("      for: 30s\n      action: restart\n",
             "bad.yml:7: plugins[0].on_limit.action: \"restart\" is not an action (try watch, signal or breaker)"),
            ("      for: 30s\n      action: signal\n      signal: TREM\n",
             "bad.yml:8: plugins[0].on_limit.signal: \"TREM\" is not a signal (try TERM, KILL, INT, HUP, QUIT, USR1, USR2 or a number from 1 to 64)"),
            ("      for: 30s\n      action: signal\n      signal: 65\n",
             "bad.yml:8: plugins[0].on_limit.signal: \"65\" is not a signal (try TERM, KILL, INT, HUP, QUIT, USR1, USR2 or a number from 1 to 64)"),
            ("      for: -5s\n      action: signal\n",
             "bad.yml:6: plugins[0].on_limit.for: \"-5s\" is negative; a limit stays exceeded for zero or more time (try 30s)"),
            ("      for: soon\n      action: signal\n",
             "bad.yml:6: plugins[0].on_limit.for: \"soon\" is not a duration (try 500ms, 5s, 2m or 1h)"),
            ("      for: 30s\n      action: watch\n      signal: TERM\n",
             "bad.yml:8: plugins[0].on_limit.signal: only used with action: signal (the action here is watch)"),
            ("      for: 30s\n      action: breaker\n",
             "bad.yml:7: plugins[0].on_limit.action: breaker opens a host's circuit breakers and the sidecar has none: it is for hosts that run plugins in process, through the library (ResourceSampler's onBreaker hook); here use signal or watch"),
            ("      for: 30s\n      signal: TERM\n",
             "bad.yml:6: plugins[0].on_limit.action: on_limit needs an action: watch, signal or breaker"),
            ("      action: signal\n",
             "bad.yml:6: plugins[0].on_limit.for: on_limit needs for: how long a limit must stay exceeded before the action (try 30s)"),
            ("      for: 30s\n      action: signal\n      dry_run: maybe\n",
             "bad.yml:8: plugins[0].on_limit.dry_run: \"maybe\" is not true or false"),
            ("      for: 30s\n      action: signal\n      after: 3\n",
             "bad.yml:8: plugins[0].on_limit.after: unknown key"),
            ("      for: 30s\n      action: signal\n      dry_run: true\n      max_targets: 0\n",
             "bad.yml:9: plugins[0].on_limit.max_targets: must be 1 or more"),
            ("      for: 30s\n      action: watch\n      escalate: {after: 1s}\n",
             "bad.yml:8: plugins[0].on_limit.escalate: only used with action: signal (the action here is watch)"),
            ("      for: 30s\n      action: signal\n      dry_run: true\n      escalate: {signal: KILL}\n",
             "bad.yml:9: plugins[0].on_limit.escalate.after: escalate needs after: how long after the first signal (try 10s)"),
        ]
        for (yaml, expected) in cases {
            XCTAssertThrowsError(try SidecarConfig.parse(plugin + yaml, file: "bad.yml"), yaml) { error in
                XCTAssertTrue("\(error)".hasPrefix(expected), "expected:\n\(expected)\ngot:\n\(error)")
            }
        }
        let unlimited = "plugins:\n  - name: p\n    match: [{comm: x}]\n    on_limit: {for: 1s, action: signal}\n"
        XCTAssertThrowsError(try SidecarConfig.parse(unlimited, file: "bad.yml")) {
            XCTAssertEqual("\($0)", "bad.yml:4: plugins[0].on_limit: acts when a limit stays exceeded, but the plugin has no limits; add limits: (for example memory: 512MiB) or remove on_limit")
        }
        let itself = "plugins:\n  - name: p\n    match: [{self: true}]\n    limits: {threads: 9}\n    on_limit: {for: 1s, action: signal}\n"
        XCTAssertThrowsError(try SidecarConfig.parse(itself, file: "bad.yml")) {
            XCTAssertEqual("\($0)", "bad.yml:5: plugins[0].on_limit.action: would signal vigil itself (a match entry is self); match only the plugin's own processes")
        }
    }

    func testEveryDocumentedKey() throws {
        let yaml = """
            listen: "[::1]:9999"
            metrics_path: /custom
            sampling_interval: 250ms
            service_name: host-a
            resource_attributes:
              team: observability
            plugins:
              - name: all-matchers
                version: 3.0.0-rc.1
                include_descendants: false
                match:
                  - self: true
                  - pid: 1
                  - pid_file: /run/x.pid
                  - comm: [a, b]
                  - exe: /usr/bin/x
                  - cmdline: "worker --id=\\\\d+"
                  - cgroup: /system.slice
                limits:
                  memory: 1.5GiB
                  cpu: 0.5
                  open_fds: 10
                  threads: 2
                on_limit:
                  for: 2m
                  action: signal
                  signal: QUIT
                  dry_run: true                # a dry run may name self: it signals nothing
            pushgateway:
              url: http://127.0.0.1:9091
              job: j
              interval: 1m
              grouping:
                instance: i
              bearer_token: t
            otlp:
              endpoint: http://collector:4318/
              protocol: http/json
              compression: none
              timeout: 3s
              headers:
                api-key: k
            shutdown_grace: 2s
            """
        let c = try SidecarConfig.parse(yaml, file: "full.yml")
        XCTAssertEqual(c.listenHost, "::1")
        XCTAssertEqual(c.listenPort, 9999)
        XCTAssertEqual(c.metricsPath, "/custom")
        XCTAssertEqual(c.web, WebConfig(), "the web config comes from --web.config.file, never from vigil.yml")
        XCTAssertEqual(c.samplingInterval, .milliseconds(250))
        XCTAssertEqual(c.serviceName, "host-a")
        XCTAssertEqual(c.resourceAttributes.first?.0, "team")
        XCTAssertEqual(c.plugins[0].matchers.count, 7)
        XCTAssertEqual(c.plugins[0].limits, ResourceLimits(memoryBytes: 1_610_612_736, cpuRatio: 0.5, openFDs: 10, threads: 2))
        XCTAssertEqual(c.plugins[0].version, "3.0.0-rc.1")
        XCTAssertEqual(c.plugins[0].onLimit, LimitPolicy(for: .seconds(120), action: .signal(SIGQUIT), dryRun: true))
        XCTAssertEqual(c.pushgateway?.client.url, "http://127.0.0.1:9091")
        XCTAssertEqual(c.pushgateway?.client.job, "j")
        XCTAssertEqual(c.pushgateway?.interval, .seconds(60))
        XCTAssertEqual(c.pushgateway?.client.grouping.first?.value, "i")
        XCTAssertEqual(c.otlp?.tracesEndpoint, "http://collector:4318/v1/traces")
        XCTAssertEqual(c.otlp?.encoding, .json)
        XCTAssertEqual(c.otlp?.gzip, false)
        XCTAssertEqual(c.otlp?.timeout, .seconds(3))
        XCTAssertEqual(c.otlp?.headers.first?.name, "api-key")
        XCTAssertEqual(c.shutdownGrace, .seconds(2))
    }

    func testEnvironmentOverridesTheFile() throws {
        let c = try SidecarConfig.parse("listen: 127.0.0.1:1\n", file: "f.yml", environment: [
            "VIGIL_LISTEN": "0.0.0.0:9100", "VIGIL_SAMPLING_INTERVAL": "2s", "VIGIL_PUSHGATEWAY_URL": "http://gw:9091",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318",
        ])
        XCTAssertEqual(c.listenHost, "0.0.0.0")
        XCTAssertEqual(c.listenPort, 9100)
        XCTAssertEqual(c.samplingInterval, .seconds(2))
        XCTAssertEqual(c.pushgateway?.client.url, "http://gw:9091")
        XCTAssertEqual(c.otlp?.tracesEndpoint, "http://otel:4318/v1/traces")
        XCTAssertThrowsError(try SidecarConfig.parse("", file: "f.yml", environment: ["VIGIL_LISTEN": "nowhere"])) {
            XCTAssertEqual("\($0)", "environment: VIGIL_LISTEN: \"nowhere\" is not host:port (try 127.0.0.1:9464)")
        }
    }

    func testBrokenFilesGetExactMessages() {
        let cases: [(String, String)] = [
            ("listen: localhost\n", "bad.yml:1: listen: \"localhost\" is not host:port (try 127.0.0.1:9464 or [::1]:9464)"),
            ("lisen: 127.0.0.1:9464\n", "bad.yml:1: lisen: unknown key (did you mean \"listen\"?); allowed here: listen, metrics_path, auth, tls, sampling_interval, service_name, resource_attributes, plugins, pushgateway, otlp, shutdown_grace"),
            ("sampling_interval: 5 seconds\n", "bad.yml:1: sampling_interval: \"5 seconds\" is not a duration (try 500ms, 5s, 2m or 1h)"),
            ("sampling_interval: 10ms\n", "bad.yml:1: sampling_interval: must be at least 100ms (try 5s)"),
            ("plugins:\n  - name: ocr\n    match:\n      - comm: [x]\n    limits:\n      memory: 12QB\n",
             "bad.yml:6: plugins[0].limits.memory: \"12QB\" is not a size (try 512MiB, 1.5GiB, 100MB or a number of bytes)"),
            ("plugins:\n  - name: ocr\n    match:\n      - comm: [x]\n    limits:\n      cpu: lots\n",
             "bad.yml:6: plugins[0].limits.cpu: \"lots\" is not a number (try 0.5 for half a core, 2 for two cores)"),
            ("plugins:\n  - name: ocr\n", "bad.yml:2: plugins[0].match: plugin \"ocr\" matches no process; add a match entry, for example - comm: ocr-worker"),
            ("plugins:\n  - match:\n      - self: true\n", "bad.yml:2: plugins[0].name: every plugin needs a name (the plugin label of its metrics)"),
            ("plugins:\n  - name: a\n    match:\n      - comm: x\n        pid: 3\n",
             "bad.yml:4: plugins[0].match[0]: each match entry has exactly one of: self, pid, pid_file, comm, exe, cmdline, cgroup"),
            ("plugins:\n  - name: a\n    match:\n      - cmdline: \"(unclosed\"\n",
             "bad.yml:4: plugins[0].match[0].cmdline: cmdline pattern \"(unclosed\" is not a regular expression"),
            ("plugins:\n  - name: a\n    match: [{self: true}]\n  - name: a\n    match: [{self: true}]\n",
             "bad.yml:4: plugins[1].name: \"a\" is configured twice"),
            ("auth:\n  bearer_token_sha256: hunter2\n",
             "bad.yml:2: auth: SHA-256 credentials are gone: remove auth: here and give vigil --web.config.file web.yml with basic_auth_users: {prometheus: <bcrypt hash>}; \(WebConfig.howToHash). Bearer tokens are not supported: use basic auth or TLS client certificates (see config/web.yml)"),
            ("tls:\n  cert: x\n", "bad.yml:2: tls: TLS moved to the web config: remove tls: here and give vigil --web.config.file web.yml with tls_server_config: {cert_file: …, key_file: …} (the exporter-toolkit format; see config/web.yml)"),
            ("pushgateway:\n  job: x\n", "bad.yml:2: pushgateway.url: needs an http:// or https:// URL (try http://127.0.0.1:9091)"),
            ("otlp:\n  protocol: grpc\n", "bad.yml:2: otlp.protocol: \"grpc\" is not http/protobuf or http/json"),
            ("plugins: ocr\n", "bad.yml:1: plugins: expected a list, found \"ocr\""),
            ("listen: [1, 2\n", "bad.yml:2: not valid YAML"),
        ]
        for (yaml, expected) in cases {
            XCTAssertThrowsError(try SidecarConfig.parse(yaml, file: "bad.yml"), yaml) { error in
                XCTAssertTrue("\(error)".hasPrefix(expected), "expected:\n\(expected)\ngot:\n\(error)")
            }
        }
    }

    func testVigilCheckExitsZeroOrTwo() throws {
        let vigil = Self.root.appendingPathComponent(".build/debug/vigil")
        guard FileManager.default.isExecutableFile(atPath: vigil.path) else { throw XCTSkip("build the vigil product first (make test does)") }
        func run(_ file: String) throws -> (Int32, String) {
            let p = Process()
            p.executableURL = vigil
            p.arguments = ["check", file]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }
        XCTAssertEqual(try run(Self.root.appendingPathComponent("config/vigil.yml").path).0, 0)
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-bad-\(UUID()).yml")
        try "listen: nowhere\n".write(to: bad, atomically: true, encoding: .utf8)
        let (code, said) = try run(bad.path)
        XCTAssertEqual(code, 2)
        XCTAssertTrue(said.contains(":1: listen: \"nowhere\" is not host:port"), said)
    }
}
