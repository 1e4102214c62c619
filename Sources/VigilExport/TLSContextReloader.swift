import NIOCore
import NIOSSL
import Synchronization
import VigilSupport

#if canImport(Glibc)
import Glibc
#endif

/// The server's TLS context, built from a `WebConfig.TLS` and built again when its files change:
/// each new connection `stat`s the certificate, key and CA files (three system calls, against a
/// handshake's milliseconds) and, when one changed, they are read again, so a rotated certificate
/// is served from the next connection on. Files that do not load (a key written before its
/// certificate, say) leave the previous context in use and are tried again when they change again.
final class TLSContextReloader: Sendable {
    let settings: WebConfig.TLS
    private let onReloadFailure: @Sendable (WebConfigError) -> Void
    private let state: Mutex<State>

    private struct State {
        var context: NIOSSLContext
        var stamps: [FileStamp]
        var failedStamps: [FileStamp]?
    }

    /// Loads the files once; throws when they do not make a context, naming the key at fault.
    /// - Parameter onReloadFailure: told when changed files do not load (the previous context stays).
    init(settings: WebConfig.TLS, onReloadFailure: @escaping @Sendable (WebConfigError) -> Void) throws(WebConfigError) {
        self.settings = settings
        self.onReloadFailure = onReloadFailure
        let stamps = Self.stamps(settings)
        state = Mutex(State(context: try Self.makeContext(settings), stamps: stamps))
    }

    /// The TLS handler for a new connection, with the current context.
    func makeHandler() -> NIOSSLServerHandler {
        let context = currentContext()
        let allowed = settings.clientAllowedSANs
        switch settings.clientAuth {
        case .requestClientCert, .requireAnyClientCert:
            // Taken unverified, as Go does: only the SANs, when listed, are checked.
            return NIOSSLServerHandler(context: context) { certificates, promise in
                promise.succeed(Self.carriesAllowedSAN(certificates.first, allowed) ? .certificateVerified : .failed)
            }
        case .requireAndVerifyClientCert where !allowed.isEmpty:
            return NIOSSLServerHandler._makeSSLServerHandler(context: context) { certificate, channel in
                Self.carriesAllowedSAN(certificate, allowed)
                    ? channel.eventLoop.makeSucceededVoidFuture()
                    : channel.eventLoop.makeFailedFuture(ClientSANNotAllowed())
            }
        default:
            return NIOSSLServerHandler(context: context)
        }
    }

    /// The context to hand a new connection: the files are `stat`ed, and loaded again if changed.
    func currentContext() -> NIOSSLContext {
        let stamps = Self.stamps(settings)
        let (context, failure): (NIOSSLContext, WebConfigError?) = state.withLock { state in
            guard stamps != state.stamps, stamps != state.failedStamps else { return (state.context, nil) }
            do throws(WebConfigError) {
                state.context = try Self.makeContext(settings)
                state.stamps = stamps
                state.failedStamps = nil
                return (state.context, nil)
            } catch {
                state.failedStamps = stamps
                return (state.context, error)
            }
        }
        if let failure { onReloadFailure(failure) }
        return context
    }

    /// Builds a context from the settings, reading every file now. Errors name the key whose
    /// file or text is at fault.
    static func makeContext(_ settings: WebConfig.TLS) throws(WebConfigError) -> NIOSSLContext {
        let certKey = key(settings.certificate, file: "cert_file", inline: "cert")
        let keyKey = key(settings.privateKey, file: "key_file", inline: "key")
        let chain = try certificates(settings.certificate, key: certKey)
        let keyBytes = try bytes(settings.privateKey, key: keyKey)
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(bytes: keyBytes, format: .pem)
        } catch {
            throw WebConfigError(key: keyKey, message: "not an unencrypted PEM private key (\(error)); expected -----BEGIN PRIVATE KEY-----")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = settings.minVersion.nio
        configuration.maximumTLSVersion = settings.maxVersion.nio
        let older = settings.cipherSuites.filter { !$0.isTLS13 }
        if !older.isEmpty { configuration.cipherSuiteValues = older.map { NIOTLSCipher(rawValue: $0.code) } }
        if !settings.curves.isEmpty { configuration.curves = settings.curves.map { NIOTLSCurve(rawValue: $0.code) } }
        configuration.applicationProtocols = ["http/1.1"]
        if let ca = settings.clientCA {
            configuration.trustRoots = .certificates(try certificates(ca, key: key(ca, file: "client_ca_file", inline: "client_ca")))
            configuration.sendCANameList = true
        } else {
            configuration.trustRoots = .certificates([])
        }
        switch settings.clientAuth {
        case .noClientCert: configuration.certificateVerification = .none
        case .requestClientCert, .verifyClientCertIfGiven: configuration.certificateVerification = .optionalVerification
        case .requireAnyClientCert, .requireAndVerifyClientCert: configuration.certificateVerification = .noHostnameVerification
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch NIOSSLError.failedToLoadPrivateKey {
            // The key parsed above; BoringSSL refuses it here when it does not match the leaf.
            throw WebConfigError(key: keyKey, message: "this key does not belong to the certificate in \(describe(settings.certificate)); give the key the certificate was issued for")
        } catch {
            let key = older.isEmpty && settings.curves.isEmpty ? "tls_server_config" : "tls_server_config.cipher_suites"
            throw WebConfigError(key: key, message: "BoringSSL refused these settings: \(error)")
        }
    }

    /// Where a source came from, for messages: its path, or "the inline PEM".
    static func describe(_ source: WebConfig.TLS.Source) -> String {
        switch source {
        case .file(let path): path
        case .pem: "the inline PEM"
        }
    }

    private static func key(_ source: WebConfig.TLS.Source, file: String, inline: String) -> String {
        switch source {
        case .file: "tls_server_config." + file
        case .pem: "tls_server_config." + inline
        }
    }

    private static func bytes(_ source: WebConfig.TLS.Source, key: String) throws(WebConfigError) -> [UInt8] {
        switch source {
        case .pem(let text): return Array(text.utf8)
        case .file(let path):
            do {
                return try readWholeFile(path, limit: 1 << 20, regularOnly: true)  // a certificate chain is kilobytes
            } catch {
                throw WebConfigError(key: key, message: "cannot read \(path): \(error.reason)")
            }
        }
    }

    private static func certificates(_ source: WebConfig.TLS.Source, key: String) throws(WebConfigError) -> [NIOSSLCertificate] {
        let pem = try bytes(source, key: key)
        let chain = try? NIOSSLCertificate.fromPEMBytes(pem)
        guard let chain, !chain.isEmpty else {
            throw WebConfigError(key: key, message: "\(describe(source)) holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")
        }
        return chain
    }

    /// One file's identity and version, enough to see it replaced (new inode), rewritten (size,
    /// mtime) or gone (errno).
    struct FileStamp: Equatable {
        var device: UInt64 = 0, inode: UInt64 = 0, size: Int64 = 0
        var modified = timespec(), changed = timespec()
        var errno: Int32 = 0

        static func == (a: FileStamp, b: FileStamp) -> Bool {
            a.device == b.device && a.inode == b.inode && a.size == b.size && a.errno == b.errno
                && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
                && a.changed.tv_sec == b.changed.tv_sec && a.changed.tv_nsec == b.changed.tv_nsec
        }
    }

    static func stamps(_ settings: WebConfig.TLS) -> [FileStamp] {
        [settings.certificate, settings.privateKey, settings.clientCA].compactMap { source in
            guard case .file(let path) = source else { return nil }
            var info = stat()
            guard stat(path, &info) == 0 else { return FileStamp(errno: errno) }
            return FileStamp(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                             modified: info.st_mtim, changed: info.st_ctim)
        }
    }

    /// Whether `certificate` carries one of `allowed` as a subject alternative name (any, when
    /// `allowed` is empty), compared exactly as exporter-toolkit does.
    static func carriesAllowedSAN(_ certificate: NIOSSLCertificate?, _ allowed: [String]) -> Bool {
        guard !allowed.isEmpty else { return true }
        guard let certificate else { return false }
        for name in certificate._subjectAlternativeNames() {
            let bytes = name.contents.withUnsafeBufferPointer { Array($0) }
            let text: String
            if name.nameType == .ipAddress {
                guard let address = ipAddressText(bytes) else { continue }
                text = address
            } else {
                text = String(decoding: bytes, as: UTF8.self)
            }
            if allowed.contains(text) { return true }
        }
        return false
    }

    private static func ipAddressText(_ bytes: [UInt8]) -> String? {
        let family: Int32
        switch bytes.count {
        case 4: family = AF_INET
        case 16: family = AF_INET6
        default: return nil
        }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = bytes.withUnsafeBytes { raw in inet_ntop(family, raw.baseAddress, &text, socklen_t(text.count)) } != nil
        return ok ? String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
    }
}

/// A verified client certificate that carries none of `client_allowed_sans`.
struct ClientSANNotAllowed: Error, CustomStringConvertible {
    var description: String { "the client certificate carries none of client_allowed_sans" }
}

extension WebConfig.Version {
    var nio: TLSVersion {
        switch self {
        case .tls10: .tlsv1
        case .tls11: .tlsv11
        case .tls12: .tlsv12
        case .tls13: .tlsv13
        }
    }
}
