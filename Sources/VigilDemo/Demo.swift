#if canImport(Glibc)
import Glibc
#endif
import Logging
import Vigil
import VigilSidecar

/// `vigil demo`: a plugin host running two observed plugins, "ocr" and "translate" (whose
/// backend keeps going down behind a breaker), next to a hungry child process watched against
/// a memory limit, all served by a sidecar on `/metrics`.
///
///     let child = try HungryChild.spawn(period: timings.hungryChildPeriod)
///     let config = try Demo.config(listen: "127.0.0.1:9464", hungryChildPID: child.pid)
///     let demo = try Demo(config: config, timings: .normal, hungryChildPID: child.pid, tracesFile: "traces.jsonl", logger: logger)
///     try await demo.run { port in print(demo.banner(port: port)) }
public struct Demo: Sendable {
    /// The version the demo's in-process plugins report in `vigil_plugin_info`.
    static let pluginVersion = "1.0.0"

    /// The sidecar the demo runs in: its registry holds the demo's series too.
    let sidecar: Sidecar
    let timings: DemoTimings
    let hungryChildPID: Int32?
    let tracesFile: String?
    let service: DemoService

    /// The demo's configuration: the host itself and the hungry child (when there is one), each
    /// with limits, listening on `listen` (host:port, port 0 for any free one). `environment` wins
    /// over it the way it does for `vigil serve` (`VIGIL_LISTEN`, `OTEL_EXPORTER_OTLP_ENDPOINT`, …).
    public static func config(listen: String, hungryChildPID: Int32?, environment: [String: String] = [:]) throws(DemoError) -> SidecarConfig {
        var config = SidecarConfig()
        config.serviceName = "vigil-demo"
        config.samplingInterval = .seconds(1)
        do {
            // --listen is read by the same rule as VIGIL_LISTEN.
            try config.applyEnvironment(["VIGIL_LISTEN": listen], file: "--listen")
        } catch {
            throw DemoError(description: "--listen: \(error.message)")
        }
        do {
            config.plugins = [
                PluginResources(name: "demo-host", matchers: [try ProcessMatcher(.currentProcess)],
                                limits: ResourceLimits(memoryBytes: 1 << 30, cpuRatio: 1.5, openFDs: 1024, threads: 64)),
            ]
            if let hungryChildPID {
                // Over its memory limit for 2 s, the child would be sent TERM: a dry run, so the
                // demo goes on, and vigil_plugin_limit_actions_total{action="dry_run"} counts it.
                config.plugins.append(
                    PluginResources(name: HungryChild.pluginName, matchers: [try ProcessMatcher(.pid(hungryChildPID))],
                                    limits: ResourceLimits(memoryBytes: HungryChild.limitMiB << 20, openFDs: 64),
                                    onLimit: LimitPolicy(for: .seconds(2), action: .signal(SIGTERM), dryRun: true),
                                    // Its proportional and swapped memory too (smaps_rollup), for the dashboard's panel.
                                    smaps: true))
            }
        } catch {
            throw DemoError(description: "the demo's plugins: \(error)")
        }
        do {
            try config.applyEnvironment(environment, file: "environment")
        } catch {
            throw DemoError(description: error.description)
        }
        return config
    }

    /// Builds the sidecar and the demo's plugins, breaker and workers; nothing runs yet.
    /// - Parameters:
    ///   - tracesFile: where spans go when `config` has no OTLP endpoint (nil: nowhere).
    ///   - environment: the OpenTelemetry variables (`OTEL_TRACES_SAMPLER`, `OTEL_SDK_DISABLED`, …) the sidecar obeys.
    public init(config: SidecarConfig, timings: DemoTimings, hungryChildPID: Int32?, tracesFile: String?, logger: Logger,
                environment: [String: String] = ProcessEnvironment.all) throws {
        sidecar = try Sidecar(config: config, environment: environment, logger: logger, tracesFile: tracesFile)
        self.timings = timings
        self.hungryChildPID = hungryChildPID
        self.tracesFile = tracesFile
        let observer = try PluginObserver(registry: sidecar.registry, tracer: sidecar.tracer)
        // The two in-process plugins are loaded as a host loads them: vigil_plugin_info says which version.
        for plugin in [OCRPlugin.name, TranslatePlugin.name] { observer.load(plugin: plugin, version: Self.pluginVersion) }
        var breakerConfig = CircuitBreaker.Configuration()
        breakerConfig.policy = .consecutiveFailures(5)
        breakerConfig.openTimeout = timings.breakerOpenTimeout
        let breaker = try CircuitBreaker(plugin: TranslatePlugin.name, name: "backend", configuration: breakerConfig, registry: sidecar.registry, onStateChange: { t in
            logger.notice("breaker \(t.from.rawValue) -> \(t.to.rawValue)", metadata: ["plugin": "\(t.plugin)", "breaker": "\(t.breaker)", "reason": "\(t.reason)"])
        })
        service = DemoService(observer: observer, breaker: breaker, timings: timings, sampler: sidecar.sampler, logger: logger,
                              progressInterval: .seconds(5))
    }

    /// Runs the demo until SIGTERM, SIGINT or a graceful shutdown; `onListening` gets the port
    /// `/metrics` is served on.
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        try await sidecar.run(extraServices: [service], onListening: onListening)
    }

    /// What `vigil demo` prints once it listens on `port`.
    public func banner(port: Int) -> String {
        let config = sidecar.config
        let child = hungryChildPID.map {
            "A child process (pid \($0))\nswings its memory around its \(HungryChild.limitMiB) MiB limit every \(timings.hungryChildPeriod)."
        } ?? "No hungry child (--no-hungry-child)."
        let traces: String
        if let otlp = config.otlp {
            traces = "OTLP at \(otlp.tracesEndpoint)"
        } else if let tracesFile {
            traces = "the file \(tracesFile) (one OTLP/JSON batch a line, capped at 16 MiB, one rotated file)"
        } else {
            traces = "nowhere (set OTEL_EXPORTER_OTLP_ENDPOINT)"
        }
        return """

            Vigil demo: plugins "ocr" and "translate" run in this process; "translate" calls a backend that goes down
            for \(timings.outage) of every \(timings.cycle), so its breaker trips and recovers. \(child)

              metrics:  \(config.web.tls == nil ? "http" : "https")://\(config.listenHost):\(port)\(config.metricsPath)
              scrape:   prometheus --config.file=config/prometheus.yml   (its first job scrapes this address)
              look at:  vigil_phase_executions_total, vigil_phase_duration_seconds, vigil_breaker_state,
                        vigil_plugin_resident_memory_bytes, vigil_plugin_limit_exceeded
              traces:   \(traces)
              stop:     Ctrl-C

            """
    }
}

/// Why the demo could not start, with what to do about it.
public struct DemoError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
