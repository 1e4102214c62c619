import Logging
import ServiceLifecycle
import UnixSignals
import Vigil
import VigilSupport

/// Serves `/metrics` until shutdown, then stops accepting connections.
struct ServerService: Service {
    let registry: Registry
    let configuration: MetricsServer.Configuration
    let logger: Logger
    let started: @Sendable (Int) -> Void

    func run() async throws {
        let server = try await MetricsServer.start(registry: registry, configuration: configuration)
        logger.info("serving metrics", metadata: ["address": "\(configuration.scheme)://\(configuration.host):\(server.localPort)\(configuration.metricsPath)"])
        started(server.localPort)
        try? await gracefulShutdown()
        try await server.stop()
        logger.info("metrics server stopped")
    }
}

/// Reloads the configuration on every SIGHUP until shutdown; the reloader logs each outcome.
struct ReloadService: Service {
    let hangups: UnixSignalsSequence
    let reload: @Sendable () async -> Void

    func run() async throws {
        for await _ in hangups.cancelOnGracefulShutdown() {
            await reload()
        }
    }
}

/// Samples plugin processes until shutdown, then waits for a sweep under way within what is
/// left of the grace period and no longer: a sweep stuck in a /proc read (a process whose memory
/// map is locked blocks reads of its `cmdline`) is abandoned, so that SIGTERM still ends vigil.
struct SamplerService: Service {
    let sampler: ResourceSampler
    let shutdown: ShutdownState
    let logger: Logger

    func run() async throws {
        sampler.start()
        try? await gracefulShutdown()
        let sampler = self.sampler
        let deadline = shutdown.remaining
        if await withDeadline(deadline, { await sampler.stop() }) == nil {
            logger.warning("a sweep of /proc was still running at the shutdown deadline; abandoned", metadata: ["deadline": "\(deadline)"])
        }
    }
}

/// Pushes on an interval, and once more on the way out, within what is left of the grace period.
struct PusherService: Service {
    let client: PushgatewayClient
    let interval: Duration
    let shutdown: ShutdownState
    let logger: Logger

    func run() async throws {
        let logger = self.logger
        let shutdown = self.shutdown
        await cancelWhenGracefulShutdown {
            await client.run(every: interval, finalPushTimeout: shutdown.remaining) { error in
                logger.warning("push failed", metadata: ["error": "\(error)"])
            }
        }
        logger.info("pusher stopped")
    }
}

/// Pushes the registry as OTLP metrics on its interval, and once more on the way out, within
/// what is left of the grace period.
struct OTLPMetricsService: Service {
    let exporter: OTLPMetricsExporter
    let shutdown: ShutdownState
    let logger: Logger

    func run() async throws {
        let logger = self.logger
        let shutdown = self.shutdown
        await cancelWhenGracefulShutdown {
            await exporter.run(finalPushTimeout: shutdown.remaining) { error in
                logger.warning("OTLP metrics push failed", metadata: ["error": "\(error)"])
            }
        }
        logger.info("OTLP metrics pusher stopped")
    }
}

/// Flushes spans on the way out, within what is left of the grace period; spans that do not make
/// it are counted in `vigil_spans_dropped_total`.
struct TracerService: Service {
    let tracer: Tracer
    let shutdown: ShutdownState
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        let deadline = shutdown.remaining
        let started = ContinuousClock.now
        await tracer.shutdown(deadline: deadline)
        if started.duration(to: .now) >= deadline {
            logger.warning("span flush abandoned at the shutdown deadline; the spans not delivered are counted in vigil_spans_dropped_total",
                           metadata: ["deadline": "\(deadline)"])
        } else {
            logger.info("spans flushed")
        }
    }
}
