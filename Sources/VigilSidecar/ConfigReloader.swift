import Logging
import Vigil

/// What a reload of the configuration file came to.
public enum ReloadOutcome: Sendable, Equatable, CustomStringConvertible {
    /// The file was good and its plugins are watched from now on: `plugins` says which were
    /// added, removed, changed or left as they were. `needsRestart` names the settings (as keys of
    /// the file) whose value in the file differs from the running one: they keep the running
    /// value until vigil restarts.
    case reloaded(plugins: ResourceSampler.Update, needsRestart: [String])
    /// Nothing changed: `reason` says why, as `file:line: path: what (try …)` for a bad file.
    case failed(reason: String)

    public var description: String {
        switch self {
        case let .reloaded(plugins, needsRestart):
            var text = "reloaded: plugins added: \(Self.list(plugins.added)); removed: \(Self.list(plugins.removed)); "
                + "changed: \(Self.list(plugins.changed)); unchanged: \(plugins.unchanged.count)"
            if !needsRestart.isEmpty {
                text += "; changed but kept until restart: \(needsRestart.joined(separator: ", "))"
            }
            return text
        case let .failed(reason):
            return reason
        }
    }

    static func list(_ names: [String]) -> String { names.isEmpty ? "none" : names.joined(separator: ", ") }
}

/// `VigilMetric.configLastReloadSuccessful` and `VigilMetric.configLastReloadSuccessTimestamp`,
/// kept as Prometheus keeps its own pair for its file: set at startup, then by every reload.
struct ReloadStatus: Sendable {
    let successful: Gauge
    let successTimestamp: Gauge

    /// Registers both gauges and records the load at startup as a success.
    init(registry: Registry) throws(RegistrationError) {
        successful = try registry.register(VigilMetric.configLastReloadSuccessful).labels()
        successTimestamp = try registry.register(VigilMetric.configLastReloadSuccessTimestamp).labels()
        succeeded()
    }

    func succeeded() {
        successful.set(1)
        successTimestamp.setToCurrentTime()
    }

    func failed() {
        successful.set(0)
    }
}

/// Re-reads the configuration file while the sidecar runs (on SIGHUP and `POST /-/reload`) and
/// applies what can change without a restart: the plugins, through
/// `ResourceSampler.update(plugins:)` (new ones start at the next sample, removed ones leave the
/// exposition at the next scrape, the others keep their counters and take their new matchers and
/// limits).
///
/// Every other setting was built into a running service (the listening socket and its path and
/// credentials, the pusher, the span exporter and its resource, the sampling task's interval, the
/// service group's grace), so a reload that changes one logs that vigil must restart for it and
/// leaves the running value. A file that cannot be read or is wrong changes nothing. An actor,
/// so two reloads never interleave.
actor ConfigReloader {
    let path: String
    let environment: [String: String]
    /// What the services were built from: restart-only settings are compared with it.
    let running: SidecarConfig
    let sampler: ResourceSampler
    let status: ReloadStatus
    let logger: Logger

    init(path: String, environment: [String: String], running: SidecarConfig, sampler: ResourceSampler, status: ReloadStatus, logger: Logger) {
        self.path = path
        self.environment = environment
        self.running = running
        self.sampler = sampler
        self.status = status
        self.logger = logger
    }

    /// Loads the file and applies it, or keeps everything as it is when the file is wrong; logs
    /// and records the outcome either way.
    func reload() -> ReloadOutcome {
        let config: SidecarConfig
        let update: ResourceSampler.Update
        do {
            config = try SidecarConfig.load(path: path, environment: environment)
        } catch {
            return failed("\(error)")
        }
        do {
            update = try sampler.update(plugins: config.plugins)
        } catch {
            return failed("\(path): plugins: \(error)")
        }
        status.succeeded()
        for warning in config.warnings { logger.warning("\(warning)") }
        let needsRestart = Self.restartOnly.filter { _, value in value(config) != value(running) }.map(\.key)
        let outcome = ReloadOutcome.reloaded(plugins: update, needsRestart: needsRestart)
        logger.info("configuration reloaded", metadata: [
            "file": "\(path)",
            "added": "\(ReloadOutcome.list(update.added))",
            "removed": "\(ReloadOutcome.list(update.removed))",
            "changed": "\(ReloadOutcome.list(update.changed))",
            "unchanged": "\(update.unchanged.count)",
        ])
        if !needsRestart.isEmpty {
            logger.warning("\(path): only a restart applies changes to \(needsRestart.joined(separator: ", ")); until then vigil keeps the values it started with")
        }
        return outcome
    }

    private func failed(_ reason: String) -> ReloadOutcome {
        status.failed()
        logger.error("\(reason) (reload failed; vigil keeps running with the configuration it had)")
        return .failed(reason: reason)
    }

    /// The settings a reload cannot change, by their key in the file, each with a rendering that
    /// is equal exactly when the setting is. The push and export configurations are not
    /// `Equatable` (their header and grouping lists are tuples), so they are compared by their
    /// reflection, which names every stored field, a field added later included. Renderings are
    /// compared, never logged: they hold credentials.
    static let restartOnly: [(key: String, value: @Sendable (SidecarConfig) -> String)] = [
        ("listen", { "\($0.listenHost):\($0.listenPort)" }),
        ("metrics_path", { $0.metricsPath }),
        ("sampling_interval", { "\($0.samplingInterval)" }),
        ("service_name", { $0.serviceName }),
        ("resource_attributes", { String(reflecting: $0.resourceAttributes) }),
        ("pushgateway", { String(reflecting: $0.pushgateway) }),
        ("otlp", { String(reflecting: $0.otlp) + String(reflecting: $0.otlpMetrics) }),
        ("shutdown_grace", { "\($0.shutdownGrace)" }),
        ("exclude_families, include_families, max_series_per_family, series_budget", { String(reflecting: $0.seriesLimits) }),
    ]
}
