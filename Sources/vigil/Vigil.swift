import ArgumentParser
import Logging
import Vigil
import VigilDemo
import VigilSidecar

#if canImport(Glibc)
import Glibc
#endif

@main
struct VigilCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "Observability for Swift plugin hosts: metrics, traces and resource limits.",
        version: VigilVersion.current,
        subcommands: [Serve.self, Check.self, Push.self, DemoCommand.self, Metrics.self, HogCommand.self]
    )
}

struct ConfigOption: ParsableArguments {
    @Option(name: .shortAndLong, help: "The configuration file (see config/vigil.yml).")
    var config: String = "config/vigil.yml"
}

struct WebConfigOption: ParsableArguments {
    @Option(name: .customLong("web.config.file"),
            help: "The exporter-toolkit web config: TLS (tls_server_config) and bcrypt basic auth (basic_auth_users) for /metrics; see config/web.yml.")
    var webConfigFile: String?

    /// The web config the flag names, checked (its certificate files loaded); none without the flag.
    func load() throws -> WebConfig {
        guard let webConfigFile else { return WebConfig() }
        do {
            return try WebConfigFile.load(path: webConfigFile)
        } catch {
            StandardError.write("\(error)\n")
            throw ExitCode(2)
        }
    }
}

func makeLogger() -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = .info
        return handler
    }
    return Logger(label: "vigil")
}

func loadConfig(_ path: String) throws -> SidecarConfig {
    do {
        let config = try SidecarConfig.load(path: path)
        for warning in config.warnings { StandardError.write("warning: \(warning)\n") }
        return config
    } catch {
        StandardError.write("\(error)\n")
        throw ExitCode(2)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Watch the configured plugins and serve /metrics until SIGTERM or SIGINT.",
        discussion: """
            SIGHUP re-reads the configuration file: plugins are added, removed and changed in place \
            (those that stay keep their counters). listen, metrics_path, sampling_interval, \
            service_name, resource_attributes, pushgateway, otlp and shutdown_grace need a restart: \
            a reload that changes them says so in the log and keeps the running values. A bad file \
            changes nothing and sets \(VigilMetric.configLastReloadSuccessful.name) to 0. \
            The web config (--web.config.file) is read again whenever it changes (users, passwords, \
            headers and TLS settings apply from the next request or connection; a bad file is logged, \
            sets \(VigilMetric.webConfigLastReloadSuccessful.name) to 0 and keeps the previous config), \
            and so are the certificate, key and CA files it names, so a rotated certificate needs no restart.
            """)
    @OptionGroup var options: ConfigOption
    @OptionGroup var web: WebConfigOption
    @Flag(name: .customLong("web.enable-lifecycle"),
          help: "Let POST /-/reload re-read the configuration file, as SIGHUP does (200, or 500 with the error).")
    var enableLifecycle = false

    func run() async throws {
        var config = try loadConfig(options.config)
        config.web = try web.load()
        config.webConfigFile = web.webConfigFile
        let logger = makeLogger()
        let sidecar = try Sidecar(config: config, configFile: options.config, logger: logger)
        try await sidecar.run(lifecycleAPI: enableLifecycle)
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a configuration file, a web config, or both: exit 0 if they are good, 2 with the reason if not.",
        discussion: "The web config's certificate, key and CA files are loaded too, and the key matched to the certificate.")
    @Argument(help: "The configuration file (vigil.yml).") var file: String?
    @OptionGroup var web: WebConfigOption

    func validate() throws {
        if file == nil, web.webConfigFile == nil {
            throw ValidationError("give a configuration file, --web.config.file FILE, or both")
        }
    }

    func run() throws {
        if let file {
            let config = try loadConfig(file)
            print("\(file): ok — \(config.plugins.count) plugin(s), listening on \(config.listenHost):\(config.listenPort)\(config.metricsPath)")
        }
        if let path = web.webConfigFile {
            let config = try web.load()
            let tls = config.tls.map { "TLS (client_auth_type \($0.clientAuth.rawValue))" } ?? "plain HTTP"
            let auth = config.basicAuthUsers.isEmpty ? "no basic auth" : "basic auth for \(config.basicAuthUsers.count) user(s)"
            print("\(path): ok — \(tls), \(auth)")
            if let warning = config.costlyHashWarning { StandardError.write("warning: \(path): \(warning)\n") }
        }
    }
}

struct Push: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Sample the configured plugins and push to the Pushgateway.")
    @OptionGroup var options: ConfigOption
    @OptionGroup var web: WebConfigOption
    @Flag(help: "Push once and exit (for cron jobs and short-lived hosts).") var once = false

    func run() async throws {
        var config = try loadConfig(options.config)
        config.web = try web.load()
        guard let push = config.pushgateway else {
            StandardError.write("\(options.config): pushgateway: no pushgateway is configured (add pushgateway: url: http://127.0.0.1:9091)\n")
            throw ExitCode(2)
        }
        let logger = makeLogger()
        let sidecar = try Sidecar(config: config, configFile: options.config, logger: logger)
        let client = PushgatewayClient(configuration: push.client, registry: sidecar.registry)
        if once {
            sidecar.sampler.sampleNow()
            switch await client.push(.put) {
            case .success: logger.info("pushed", metadata: ["url": "\(Redaction.url(client.groupingURL))"])
            case .failure(let error):
                logger.error("push failed", metadata: ["error": "\(error)"])
                throw ExitCode(1)
            }
        } else {
            try await sidecar.run()
        }
    }
}

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Run a demo plugin host with metrics, traces, a flaky breaker and a hungry child process.")
    @Option(help: "Where to serve /metrics.") var listen: String = "127.0.0.1:9464"
    @Flag(help: "Short cycles, for tests: the breaker and the memory limit flip within seconds.") var fast = false
    @Option(help: "Where spans go when no OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT).") var tracesFile: String = "vigil-demo-traces.jsonl"
    @Flag(inversion: .prefixedNo, help: "Start the hungry child (--no-hungry-child: only the in-process plugins, as a plugin host on a fleet's node).")
    var hungryChild = true
    @OptionGroup var web: WebConfigOption

    func run() async throws {
        let logger = makeLogger()
        let timings = fast ? DemoTimings.fast : DemoTimings.normal
        var child: HungryChild?
        if hungryChild {
            do {
                child = try HungryChild.spawn(period: timings.hungryChildPeriod)
            } catch {
                StandardError.write("\(error)\n")
                throw ExitCode(1)
            }
        }
        defer { child?.stop() }
        var config: SidecarConfig
        do {
            config = try Demo.config(listen: listen, hungryChildPID: child?.pid, environment: ProcessEnvironment.all)
        } catch {
            StandardError.write("\(error)\n")
            throw ExitCode(2)
        }
        config.web = try web.load()
        let demo = try Demo(config: config, timings: timings, hungryChildPID: child?.pid, tracesFile: tracesFile, logger: logger)
        try await demo.run { port in
            print(demo.banner(port: port))
            fflush(nil)  // the port is news to whoever reads a pipe: do not wait for the buffer to fill
        }
    }
}

struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the metric contract: every family Vigil exports, its type, labels and help; or what each plugin, phase and breaker costs in series.")

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case markdown, json, series
    }

    @Option(help: "markdown (the README's metric reference), json (for scripts), or series (the series each plugin, phase and breaker costs).")
    var format: Format = .markdown

    func run() {
        switch format {
        case .markdown: print(VigilMetric.markdown(), terminator: "")
        case .json: print(VigilMetric.json(), terminator: "")
        case .series: print(VigilMetric.seriesMarkdown(), terminator: "")
        }
    }
}

struct HogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hog", abstract: "The demo's hungry child.", shouldDisplay: false)
    @Option var highMib: UInt64 = HungryChild.highMiB
    @Option var lowMib: UInt64 = HungryChild.lowMiB
    @Option var periodSeconds: Int64 = 20

    func validate() throws {
        for (name, value) in [("--high-mib", highMib), ("--low-mib", lowMib)] where !(1...HungryChild.maximumMiB).contains(value) {
            throw ValidationError("\(name) \(value): give a size from 1 to \(HungryChild.maximumMiB) MiB")
        }
        guard (1...3600).contains(periodSeconds) else {
            throw ValidationError("--period-seconds \(periodSeconds): give a period from 1 to 3600 seconds")
        }
    }

    func run() throws {
        HungryChild.run(highMiB: highMib, lowMiB: lowMib, period: .seconds(periodSeconds))
    }
}

enum StandardError {
    static func write(_ text: String) { _ = text.withCString { Glibc.write(2, $0, strlen($0)) } }
}
