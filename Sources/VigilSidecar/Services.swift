import Logging
import ServiceLifecycle
import UnixSignals
import Vigil

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

/// Samples plugin processes until shutdown.
struct SamplerService: Service {
    let sampler: ResourceSampler

    func run() async throws {
        sampler.start()
        try? await gracefulShutdown()
        await sampler.stop()
    }
}

/// Pushes on an interval, and once more on the way out.
struct PusherService: Service {
    let client: PushgatewayClient
    let interval: Duration
    let logger: Logger

    func run() async throws {
        let logger = self.logger
        await cancelWhenGracefulShutdown {
            await client.run(every: interval) { error in logger.warning("push failed", metadata: ["error": "\(error)"]) }
        }
        logger.info("final push done")
    }
}

/// Flushes spans on the way out.
struct TracerService: Service {
    let tracer: Tracer
    let grace: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        await tracer.shutdown(deadline: grace)
        logger.info("spans flushed")
    }
}
