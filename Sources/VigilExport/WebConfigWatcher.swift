import Synchronization
import VigilSupport

#if canImport(Glibc)
import Glibc
#endif

/// The web config a server applies now, and, when it was read from a file, that file watched: it
/// is `stat`ed on each request and each new connection (one system call) and read again when it
/// changed, as exporter-toolkit re-reads its web config. New users, passwords, headers and
/// `unauthenticated_probes` apply from the next request; new TLS settings from the next connection.
/// A file that does not load, or that would switch between HTTP and HTTPS (that needs a restart),
/// leaves the previous config in use, is reported, and is tried again when it changes again.
final class WebConfigWatcher: Sendable {
    /// What a request is checked against.
    struct Applied: Sendable {
        let web: WebConfig
        /// Nil when the config has no users.
        let auth: ScrapeAuthentication?
        /// Nil without TLS.
        let tls: TLSContextReloader?
    }

    private let source: MetricsServer.WebConfigSource?
    private let makeAuth: @Sendable (WebConfig) -> ScrapeAuthentication?
    private let tlsReloadFailed: @Sendable (WebConfigError) -> Void
    private let metrics: ServerMetrics
    private let state: Mutex<State>

    private struct State {
        var applied: Applied
        var stamp: TLSContextReloader.FileStamp?
        var failedStamp: TLSContextReloader.FileStamp?
    }

    init(initial web: WebConfig, source: MetricsServer.WebConfigSource?, metrics: ServerMetrics,
         tlsReloadFailed: @escaping @Sendable (WebConfigError) -> Void,
         makeAuth: @escaping @Sendable (WebConfig) -> ScrapeAuthentication?) throws(WebConfigError) {
        self.source = source
        self.makeAuth = makeAuth
        self.tlsReloadFailed = tlsReloadFailed
        self.metrics = metrics
        let tls = try web.tls.map { settings throws(WebConfigError) in try TLSContextReloader(settings: settings, onReloadFailure: tlsReloadFailed) }
        let applied = Applied(web: web, auth: makeAuth(web), tls: tls)
        state = Mutex(State(applied: applied, stamp: source.map { TLSContextReloader.FileStamp(path: $0.path) }))
        metrics.webConfigReloadSuccessful?.set(1)
        metrics.webConfigCostlyHashes?.set(web.costlyHashUsers.count)
    }

    /// The config to serve this request or connection with, read again first if its file changed.
    func current() -> Applied {
        guard let source else { return state.withLock { $0.applied } }
        let stamp = TLSContextReloader.FileStamp(path: source.path)
        let (applied, stale) = state.withLock { ($0.applied, $0.stamp != stamp && $0.failedStamp != stamp) }
        guard stale else { return applied }
        // Read outside the lock: a second request meanwhile serves with the previous config.
        let outcome: Result<Applied, WebConfigReloadError>
        do {
            let web = try source.load(source.path)
            if (web.tls == nil) != (applied.web.tls == nil) {
                throw WebConfigReloadError(path: source.path, reason: web.tls == nil
                    ? "tls_server_config was removed: switching from HTTPS to HTTP needs a restart of vigil"
                    : "tls_server_config was added: switching from HTTP to HTTPS needs a restart of vigil")
            }
            var tls = applied.tls
            if let settings = web.tls, settings != applied.web.tls {
                do {
                    tls = try TLSContextReloader(settings: settings, onReloadFailure: tlsReloadFailed)
                } catch {
                    throw WebConfigReloadError(path: source.path, reason: "\(error)")
                }
            }
            outcome = .success(Applied(web: web, auth: makeAuth(web), tls: tls))
        } catch let error as WebConfigReloadError {
            outcome = .failure(error)
        } catch {
            outcome = .failure(WebConfigReloadError(path: source.path, reason: "\(error)"))
        }
        let result = state.withLock { state -> Applied in
            switch outcome {
            case .success(let fresh):
                state.applied = fresh
                state.stamp = stamp
                state.failedStamp = nil
            case .failure:
                state.failedStamp = stamp
            }
            return state.applied
        }
        switch outcome {
        case .success(let fresh):
            metrics.webConfigReloadSuccessful?.set(1)
            metrics.webConfigCostlyHashes?.set(fresh.web.costlyHashUsers.count)
            source.reloaded(.success(fresh.web))
        case .failure(let error):
            metrics.webConfigReloadSuccessful?.set(0)
            source.reloaded(.failure(error))
        }
        return result
    }
}

/// A changed web config file that was not applied: where, and why (with how to fix it, when the
/// loader says).
public struct WebConfigReloadError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String

    public var description: String { "\(path) changed but was not applied, the previous web config stays in use: \(reason)" }
}

extension TLSContextReloader.FileStamp {
    /// The file's stamp now (its errno when it cannot be `stat`ed).
    init(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            self.init(errno: Glibc.errno)
            return
        }
        self.init(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                  modified: info.st_mtim, changed: info.st_ctim)
    }
}
