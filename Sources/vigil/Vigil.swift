import ArgumentParser
import Logging
import Vigil
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
        subcommands: [Serve.self, Check.self, Push.self, Demo.self, Metrics.self, HogCommand.self]
    )
}

struct ConfigOption: ParsableArguments {
    @Option(name: .shortAndLong, help: "The configuration file (see config/vigil.yml).")
    var config: String = "config/vigil.yml"
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
        return try SidecarConfig.load(path: path)
    } catch {
        StandardError.write("\(error)\n")
        throw ExitCode(2)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Watch the configured plugins and serve /metrics until SIGTERM or SIGINT.")
    @OptionGroup var options: ConfigOption

    func run() async throws {
        let config = try loadConfig(options.config)
        let logger = makeLogger()
        let sidecar = try Sidecar(config: config, logger: logger)
        try await sidecar.run()
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a configuration file: exit 0 if it is good, 2 with the reason if not.")
    @Argument(help: "The configuration file.") var file: String

    func run() throws {
        let config = try loadConfig(file)
        print("\(file): ok — \(config.plugins.count) plugin(s), listening on \(config.listenHost):\(config.listenPort)\(config.metricsPath)")
    }
}

struct Push: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Sample the configured plugins and push to the Pushgateway.")
    @OptionGroup var options: ConfigOption
    @Flag(help: "Push once and exit (for cron jobs and short-lived hosts).") var once = false

    func run() async throws {
        let config = try loadConfig(options.config)
        guard let push = config.pushgateway else {
            StandardError.write("\(options.config): pushgateway: no pushgateway is configured (add pushgateway: url: http://127.0.0.1:9091)\n")
            throw ExitCode(2)
        }
        let logger = makeLogger()
        let sidecar = try Sidecar(config: config, logger: logger)
        let client = PushgatewayClient(configuration: push.client, registry: sidecar.registry)
        if once {
            sidecar.sampler.sampleNow()
            switch await client.push(.put) {
            case .success: logger.info("pushed", metadata: ["url": "\(client.groupingURL)"])
            case .failure(let error):
                logger.error("push failed", metadata: ["error": "\(error)"])
                throw ExitCode(1)
            }
        } else {
            try await sidecar.run()
        }
    }
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a demo plugin host with metrics, traces, a flaky breaker and a hungry child process.")
    @Option(help: "Where to serve /metrics.") var listen: String = "127.0.0.1:9464"
    @Flag(help: "Short cycles, for tests: the breaker and the memory limit flip within seconds.") var fast = false
    @Option(help: "Where spans go when no OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT).") var tracesFile: String = "vigil-demo-traces.jsonl"

    func run() async throws {
        let logger = makeLogger()
        let timings = fast ? DemoTimings.fast : DemoTimings.normal
        let hog = try spawnHog(period: timings.hogPeriod)
        defer { kill(hog, SIGKILL); waitpid(hog, nil, 0) }
        var demoConfig = try Sidecar.demoConfig(listen: listen, hogPID: hog)
        do {
            try demoConfig.applyEnvironment(ProcessEnvironment.all, file: "environment")
        } catch {
            StandardError.write("\(error)\n")
            throw ExitCode(2)
        }
        let config = demoConfig
        let sidecar = try Sidecar(config: config, logger: logger, tracesFile: tracesFile)
        let traces = config.otlp.map { "OTLP at \($0.tracesEndpoint)" } ?? "the file \(tracesFile) (one OTLP/JSON batch a line)"
        try await sidecar.runDemo(timings: timings) { port in
            print("""

                Vigil demo: plugins "ocr" and "translate" run in this process; "translate" calls a backend that goes down
                for \(timings.outage) of every \(timings.cycle), so its breaker trips and recovers. A child process (pid \(hog))
                swings its memory around its 64 MiB limit every \(timings.hogPeriod).

                  metrics:  http://\(config.listenHost):\(port)/metrics
                  scrape:   prometheus --config.file=config/prometheus.yml   (its first job scrapes this address)
                  look at:  vigil_phase_executions_total, vigil_phase_duration_seconds, vigil_breaker_state,
                            vigil_plugin_resident_memory_bytes, vigil_plugin_limit_exceeded
                  traces:   \(traces)
                  stop:     Ctrl-C

                """)
        }
    }

    func spawnHog(period: Duration) throws -> Int32 {
        var pid: Int32 = 0
        let exe = (try? String(decoding: readLinkSelf(), as: UTF8.self)) ?? CommandLine.arguments[0]
        let seconds = String(period.components.seconds)
        let args = [exe, "hog", "--high-mib", "96", "--low-mib", "16", "--period-seconds", seconds]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let rc = posix_spawn(&pid, exe, nil, nil, &argv, environ)
        guard rc == 0 else { throw ValidationError("cannot start the demo's child process \(exe): error \(rc)") }
        return pid
    }

    func readLinkSelf() throws -> [UInt8] {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, 4095)
        guard n > 0 else { throw ValidationError("cannot read /proc/self/exe") }
        return buffer[..<n].map { UInt8(bitPattern: $0) }
    }
}

struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the metric contract: every family Vigil exports, its type, labels and help.")

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case markdown, json
    }

    @Option(help: "markdown (the README's metric reference) or json (for scripts).") var format: Format = .markdown

    func run() {
        print(format == .markdown ? VigilMetric.markdown() : VigilMetric.json(), terminator: "")
    }
}

struct HogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hog", abstract: "The demo's hungry child.", shouldDisplay: false)
    @Option var highMib: UInt64 = 96
    @Option var lowMib: UInt64 = 16
    @Option var periodSeconds: Int64 = 20

    func run() throws {
        Hog.run(high: highMib << 20, low: lowMib << 20, period: .seconds(periodSeconds))
    }
}

enum StandardError {
    static func write(_ text: String) { _ = text.withCString { Glibc.write(2, $0, strlen($0)) } }
}
