import Logging
import ServiceLifecycle
import Vigil

/// What `vigil serve` and `vigil demo` run: the registry with the process collector, the
/// plugin sampler, the HTTP endpoint, the Pushgateway pusher and span export, under one
/// service group that SIGTERM and SIGINT stop cleanly.
public struct Sidecar: Sendable {
    public let config: SidecarConfig
    public let registry: Registry
    public let sampler: ResourceSampler
    public let tracer: Tracer?
    let logger: Logger

    /// - Parameter tracesFile: where spans go when no OTLP endpoint is configured (nil: nowhere).
    public init(config: SidecarConfig, logger: Logger, tracesFile: String? = nil) throws {
        self.config = config
        self.logger = logger
        registry = Registry()
        try registry.register(ProcessCollector())
        try registry.register(VigilMetric.buildInfo).labels(VigilVersion.current).set(1)
        let logger = logger
        sampler = try ResourceSampler(plugins: config.plugins, registry: registry, interval: config.samplingInterval) { event in
            var metadata: Logger.Metadata = [
                "plugin": "\(event.plugin)", "resource": "\(event.resource.rawValue)", "value": "\(event.value)", "limit": "\(event.limit)",
            ]
            if case .action(let taken) = event.kind {
                metadata["action"] = "\(taken.label)"
                metadata["pids"] = "\(taken.pids.map(String.init).joined(separator: ","))"
            }
            logger.log(level: event.kind == .recovered ? .info : .warning, "\(event.summary)", metadata: metadata)
        }
        var attributes = TelemetryResource.detect(serviceName: config.serviceName, serviceVersion: VigilVersion.current).attributes
        for (key, value) in config.resourceAttributes { attributes.append(Attribute(key, .string(value))) }
        let resource = TelemetryResource(attributes: attributes)
        let registry = self.registry
        var exporter: (any SpanExporter)?
        if let otlp = config.otlp {
            exporter = OTLPHTTPExporter(configuration: otlp, resource: resource, registry: registry)
        } else if let tracesFile {
            exporter = JSONLinesSpanExporter(path: tracesFile, resource: resource)
        }
        if let exporter {
            tracer = Tracer(resource: resource, processor: BatchSpanProcessor(exporter: exporter, registry: registry), registry: registry)
        } else {
            tracer = nil
        }
    }

    /// Runs until SIGTERM, SIGINT or a graceful shutdown of an enclosing service group, then stops
    /// accepting scrapes, stops `extraServices`, flushes spans and pushes once more, within
    /// `config.shutdownGrace`.
    /// - Parameters:
    ///   - extraServices: run alongside the sidecar's own, and stopped before them.
    ///   - onListening: called with the port bound (the real one when `listen` asks for port 0)
    ///     once the server accepts scrapes.
    public func run(extraServices: [any Service] = [], onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        var server = MetricsServer.Configuration()
        server.host = config.listenHost
        server.port = config.listenPort
        server.metricsPath = config.metricsPath
        server.auth = config.auth
        var services: [any Service] = []
        if let tracer { services.append(TracerService(tracer: tracer, grace: config.shutdownGrace, logger: logger)) }
        if let push = config.pushgateway {
            services.append(PusherService(client: PushgatewayClient(configuration: push.client, registry: registry), interval: push.interval, logger: logger))
        }
        services.append(SamplerService(sampler: sampler))
        services += extraServices
        // Listed last, stopped first: no scrape sees a half-stopped sidecar.
        services.append(ServerService(registry: registry, configuration: server, logger: logger, started: onListening))
        var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = config.shutdownGrace
        try await ServiceGroup(configuration: configuration).run()
    }
}
