import VigilSupport

/// How an HTTPS push target is trusted and how Vigil proves who it is: the keys of Prometheus'
/// `tls_config` (https://prometheus.io/docs/prometheus/latest/configuration/configuration/#tls_config),
/// applied by libcurl (OpenSSL). Files are PEM; they are read by libcurl at every connection, so a
/// renewed certificate is picked up by the next one.
public struct TLSClientConfiguration: Sendable, Equatable {
    /// The CA certificates that sign the target's certificate (`CURLOPT_CAINFO`); nil: the system's.
    /// Set, it replaces the system's, as Prometheus' `ca_file` does.
    public var caFile: String?
    /// The client certificate sent when the target asks for one (`CURLOPT_SSLCERT`).
    public var certFile: String?
    /// The client certificate's private key (`CURLOPT_SSLKEY`); never logged, only its path.
    public var keyFile: String?
    /// The name the target's certificate must carry, and sent as SNI, when the URL's host is
    /// another (an IP address, say); the connection still goes to the URL's host, and `Host`
    /// still names it.
    public var serverName: String?
    /// Accepts any certificate (`CURLOPT_SSL_VERIFYPEER` and `CURLOPT_SSL_VERIFYHOST` off): for
    /// tests only, since anyone on the path can then read and change the traffic.
    public var insecureSkipVerify: Bool

    /// The system's CAs, no client certificate, verification on.
    public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil, serverName: String? = nil, insecureSkipVerify: Bool = false) {
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.serverName = serverName
        self.insecureSkipVerify = insecureSkipVerify
    }

    /// What a PEM file must hold.
    public enum PEMContent: Sendable {
        /// One or more certificates (`ca_file`, `cert_file`).
        case certificate
        /// A private key, not encrypted (`key_file`).
        case privateKey
    }

    /// Why the file at `path` cannot serve as `content`, in words for a configuration error
    /// (`cannot read "/x": No such file or directory`), or nil when it can. Reads the file; a key's
    /// bytes go nowhere but this check.
    public static func problem(reading path: String, as content: PEMContent) -> String? {
        let text: String
        do {
            text = String(decoding: try readWholeFile(path, limit: 1 << 20, regularOnly: true), as: UTF8.self)
        } catch {
            return "cannot read \"\(path)\": \(error.reason)"
        }
        switch content {
        case .certificate where !text.contains("-----BEGIN CERTIFICATE-----"):
            return "\"\(path)\" holds no PEM certificate (no -----BEGIN CERTIFICATE----- line); "
                + "a DER one converts with: openssl x509 -inform der -in \(path) -out \(path).pem"
        case .privateKey where text.contains("ENCRYPTED PRIVATE KEY-----") || text.contains("Proc-Type: 4,ENCRYPTED"):
            return "\"\(path)\" holds an encrypted private key, which vigil cannot unlock; "
                + "store it decrypted, readable by vigil only: openssl pkey -in \(path) -out \(path).plain"
        case .privateKey where !text.contains("PRIVATE KEY-----"):
            return "\"\(path)\" holds no PEM private key (no -----BEGIN PRIVATE KEY----- line); "
                + "a DER one converts with: openssl pkey -inform der -in \(path) -out \(path).pem"
        default:
            return nil
        }
    }
}
