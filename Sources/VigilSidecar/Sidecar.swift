import Logging
import ServiceLifecycle
import UnixSignals
import Vigil

/// What `vigil serve` and `vigil demo` run: the registry with the process collector, the
/// plugin sampler, the HTTP endpoint, the Pushgateway pusher and span export, under one
/// service group that SIGTERM and SIGINT stop cleanly, and that SIGHUP or `POST /-/reload`
/// make re-read the configuration file.
public struct Sidecar: Sendable {
    /// The configuration the sidecar started with; a reload changes the plugins the sampler
    /// watches (`sampler.plugins`), never this.
    public let config: SidecarConfig
    public let registry: Registry
    public let sampler: ResourceSampler
    public let tracer: Tracer?
    /// Pushes the registry over OTLP when `config.otlpMetrics` is enabled.
    let metricsExporter: OTLPMetricsExporter?
    let logger: Logger
    /// Nil when the configuration came from no file: then there is nothing to reload.
    let reloader: ConfigReloader?

    /// - Parameters:
    ///   - configFile: the file `config` was loaded from. Given, `reload()` (and so SIGHUP and
    ///     `POST /-/reload`) reads it again.
    ///   - environment: the variables `config` was loaded with; a reload applies them again.
    ///   - tracesFile: where spans go when no OTLP endpoint is configured (nil: nowhere).
    public init(config: SidecarConfig, configFile: String? = nil, environment: [String: String] = ProcessEnvironment.all,
                logger: Logger, tracesFile: String? = nil) throws {
        self.config = config
        self.logger = logger
        registry = Registry()
        registry.seriesBudget = config.seriesLimits.makeBudget(logger: logger)
        try registry.register(ProcessCollector())
        try registry.register(VigilMetric.buildInfo).labels(VigilVersion.current).set(1)
        let status = try ReloadStatus(registry: registry)
        // OTEL_SERVICE_NAME > OTEL_RESOURCE_ATTRIBUTES > resource_attributes > defaults, each key once.
        let resource = TelemetryResource.detect(serviceName: config.serviceName, serviceVersion: VigilVersion.current,
                                                attributes: config.resourceAttributes, environment: environment)
        metricsExporter = config.otlpMetrics.enabled ? OTLPMetricsExporter(configuration: config.otlpMetrics, registry: registry, resource: resource) : nil
        let tracing = TracingEnvironment(environment)
        for warning in tracing.warnings { logger.warning("\(warning)") }
        var exporter: (any SpanExporter)?
        if tracing.disabled {
            logger.info("OTEL_SDK_DISABLED=true: no spans are made or exported")
        } else if let otlp = config.otlp {
            exporter = OTLPHTTPExporter(configuration: otlp, resource: resource, registry: registry)
        } else if let tracesFile {
            exporter = JSONLinesSpanExporter(path: tracesFile, resource: resource)
        }
        if let exporter {
            tracer = Tracer(resource: resource, processor: BatchSpanProcessor(exporter: exporter, registry: registry), registry: registry,
                            environment: tracing)
        } else {
            tracer = nil
        }
        let logger = logger
        let tracer = self.tracer
        sampler = try ResourceSampler(plugins: config.plugins, registry: registry, interval: config.samplingInterval) { event in
            var metadata: Logger.Metadata = [
                "plugin": "\(event.plugin)", "resource": "\(event.resource.rawValue)", "value": "\(event.value)", "limit": "\(event.limit)",
            ]
            if case .action(let taken) = event.kind {
                metadata["action"] = "\(taken.label)"
                metadata["pids"] = "\(taken.pids.map(String.init).joined(separator: ","))"
                if let tracer { Self.trace(event, taken, with: tracer) }
            }
            logger.log(level: event.kind == .recovered ? .info : .warning, "\(event.summary)", metadata: metadata)
        }
        sampler.whenPermissionIsDenied { path in
            logger.warning("""
                cannot read \(path): another user's process; its open fds (and exe matching) need more than this user has. \
                Memory, CPU, threads and process counts are still exported; the rest is counted in \
                vigil_sample_errors_total{reason="permission_denied"}. Grant CAP_DAC_READ_SEARCH (fd counts) and \
                CAP_SYS_PTRACE (exe links), as deploy/systemd/vigil.service does, or run vigil as the plugin's user.
                """)
        }
        if let configFile {
            reloader = ConfigReloader(path: configFile, environment: environment, running: config, sampler: sampler, status: status, logger: logger)
        } else {
            reloader = nil
        }
    }

    /// A limit action as a span of its own (the sampler's task has no current span) holding one
    /// event, so that trace backends show what was done to which processes and when.
    static func trace(_ event: LimitEvent, _ taken: LimitEvent.ActionTaken, with tracer: Tracer) {
        let span = tracer.startSpan("vigil.limit_action", parent: .none, attributes: [
            Attribute("vigil.plugin", .string(event.plugin)), Attribute("vigil.resource", .string(event.resource.rawValue)),
        ])
        span.addEvent(event.summary, attributes: [
            Attribute("vigil.action", .string(taken.label)), Attribute("vigil.dry_run", .bool(taken.dryRun)),
            Attribute("vigil.value", .double(event.value)), Attribute("vigil.limit", .double(event.limit)),
            Attribute("process.pids", .intArray(taken.pids.map(Int64.init))),
        ])
        if !taken.failures.isEmpty { span.setStatus(.error(message: taken.failures.map(\.description).joined(separator: "; "))) }
        span.end()
    }

    /// Reads the configuration file again and applies its plugins; settings only a restart
    /// applies keep their running values and are named in the outcome. A file that cannot be read
    /// or is wrong changes nothing and sets `VigilMetric.configLastReloadSuccessful` to 0; a good
    /// one sets it to 1 and `VigilMetric.configLastReloadSuccessTimestamp` to now. Reloads run one
    /// at a time, whoever asks.
    public func reload() async -> ReloadOutcome {
        guard let reloader else {
            return .failed(reason: "vigil was started without a configuration file, so there is none to read again")
        }
        return await reloader.reload()
    }

    /// Runs until SIGTERM, SIGINT or a graceful shutdown of an enclosing service group, then stops
    /// accepting scrapes, stops `extraServices`, flushes spans and pushes once more, within
    /// `config.shutdownGrace`. With a configuration file, SIGHUP calls `reload()`.
    /// - Parameters:
    ///   - extraServices: run alongside the sidecar's own, and stopped before them.
    ///   - lifecycleAPI: whether `POST /-/reload` calls `reload()` (`--web.enable-lifecycle`);
    ///     without it the endpoint answers 403.
    ///   - reloadOnSIGHUP: whether to trap SIGHUP (when there is a configuration file); false
    ///     leaves the signal to whoever else handles it, such as a host embedding the sidecar.
    ///   - onListening: called with the port bound (the real one when `listen` asks for port 0)
    ///     once the server accepts scrapes, and SIGHUP, if trapped, reloads.
    public func run(extraServices: [any Service] = [], lifecycleAPI: Bool = false, reloadOnSIGHUP: Bool = true,
                    onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        var server = MetricsServer.Configuration()
        server.host = config.listenHost
        server.port = config.listenPort
        server.metricsPath = config.metricsPath
        server.web = config.web
        let logger = self.logger
        if let warning = config.web.costlyHashWarning { logger.warning("\(warning)") }
        if let path = config.webConfigFile {
            server.webConfigFile = MetricsServer.WebConfigSource(path: path, load: { try WebConfigFile.load(path: $0) }) { outcome in
                switch outcome {
                case .success(let web):
                    logger.info("web config re-read and applied", metadata: ["file": "\(path)"])
                    if let warning = web.costlyHashWarning { logger.warning("\(warning)") }
                case .failure(let error):
                    logger.error("\(error)")
                }
            }
        }
        server.tlsReloadFailed = { error in
            logger.error("the changed TLS files do not load; still serving the previous certificate until they change again", metadata: ["error": "\(error)"])
        }
        if lifecycleAPI {
            server.reload = { [self] in
                let outcome = await reload()
                return switch outcome {
                case .reloaded: .reloaded("\(outcome)\n")
                case .failed(let reason): .failed(reason)
                }
            }
        }
        // Ready once every plugin has been sampled, until the shutdown begins.
        let shutdown = ShutdownState(grace: config.shutdownGrace)
        let sampler = self.sampler
        server.ready = {
            if shutdown.hasBegun { return "shutting down" }
            return sampler.hasSampled ? nil : "the plugins have not been sampled yet"
        }
        // Services stop in the reverse of this order, each after the one listed after it: the
        // marker starts the shutdown clock (and readiness goes off), sampling stops, the pusher
        // pushes once more and the tracer flushes, each within what is left of the grace period;
        // the server goes last, so that it answers (503 on /-/ready) until the end.
        var services: [any Service] = [ServerService(registry: registry, configuration: server, logger: logger, started: onListening)]
        if let tracer { services.append(TracerService(tracer: tracer, shutdown: shutdown, logger: logger)) }
        if let metricsExporter { services.append(OTLPMetricsService(exporter: metricsExporter, shutdown: shutdown, logger: logger)) }
        if let push = config.pushgateway {
            services.append(PusherService(
                client: PushgatewayClient(configuration: push.client, registry: registry), interval: push.interval, shutdown: shutdown, logger: logger))
        }
        services.append(SamplerService(sampler: sampler, shutdown: shutdown, logger: logger))
        services += extraServices
        if reloadOnSIGHUP, reloader != nil {
            // Trapped before the server listens, so a SIGHUP sent once it does never finds the
            // default action (which ends the process).
            let hangups = await UnixSignalsSequence(trapping: .sighup)
            services.append(ReloadService(hangups: hangups, reload: { [self] in _ = await reload() }))
        }
        services.append(ShutdownMarker(state: shutdown))
        var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // A backstop: each service keeps to what is left of the grace period by itself.
        configuration.maximumGracefulShutdownDuration = config.shutdownGrace + .seconds(1)
        try await ServiceGroup(configuration: configuration).run()
    }
}
