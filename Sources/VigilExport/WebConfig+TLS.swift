extension WebConfig {
    /// `tls_server_config`: the server's certificate and key, and what it asks of clients. The
    /// certificate, key and CA files are read again when they change on disk, so a rotated
    /// certificate is served from the next connection on, without a restart.
    public struct TLS: Sendable, Equatable {
        /// A PEM file's path (`cert_file`, `key_file`, `client_ca_file`) or the PEM text itself
        /// (`cert`, `key`, `client_ca`).
        public enum Source: Sendable, Equatable {
            case file(String)
            case pem(String)
        }

        /// `cert_file` or `cert`: the server certificate, then any intermediates.
        public var certificate: Source
        /// `key_file` or `key`: the certificate's private key, unencrypted PEM.
        public var privateKey: Source
        /// `client_auth_type`: what the server asks of a client's certificate.
        public var clientAuth: ClientAuth = .noClientCert
        /// `client_ca_file` or `client_ca`: the CAs client certificates are verified against.
        public var clientCA: Source?
        /// `client_allowed_sans` (only with `RequireAndVerifyClientCert`: a name on a certificate
        /// nobody verified proves nothing): a verified client certificate must carry one of these subject
        /// alternative names (DNS, IP, e-mail or URI), exactly. Empty: any.
        public var clientAllowedSANs: [String] = []
        /// `min_version`, default TLS 1.2 (as exporter-toolkit).
        public var minVersion: Version = .tls12
        /// `max_version`, default TLS 1.3.
        public var maxVersion: Version = .tls13
        /// `cipher_suites`, for TLS 1.2 and older. Empty: BoringSSL's defaults. TLS 1.3 suites may be
        /// named but, as in Go, cannot be narrowed: all three stay on.
        public var cipherSuites: [CipherSuite] = []
        /// `prefer_server_cipher_suites`. Accepted and ignored, as Go has ignored it since 1.18.
        public var preferServerCipherSuites = true
        /// `curve_preferences`, in order. Empty: BoringSSL's defaults.
        public var curves: [Curve] = []

        /// A server certificate and key; no client certificates asked for.
        public init(certificate: Source, privateKey: Source) {
            self.certificate = certificate
            self.privateKey = privateKey
        }

        /// Checks that the settings agree: a CA where client certificates are verified, none
        /// where they are not, SANs only where a certificate is required, min ≤ max.
        public func validate() throws(WebConfigError) {
            if clientAuth.verifies, clientCA == nil {
                throw WebConfigError(key: "tls_server_config.client_auth_type",
                                     message: "\(clientAuth.rawValue) verifies client certificates, so it needs client_ca_file: the CA that signed them")
            }
            if clientCA != nil, clientAuth == .noClientCert {
                throw WebConfigError(key: "tls_server_config.client_ca_file",
                                     message: "a client CA is set but client_auth_type is NoClientCert; set client_auth_type: RequireAndVerifyClientCert, or remove client_ca_file")
            }
            if !clientAllowedSANs.isEmpty, clientAuth != .requireAndVerifyClientCert {
                let why = clientAuth == .requireAnyClientCert
                    ? "RequireAnyClientCert takes any certificate, signed by anyone, so the names on it prove nothing"
                    : "with \(clientAuth.rawValue) a client may send no certificate, so there is no SAN to match"
                throw WebConfigError(key: "tls_server_config.client_allowed_sans",
                                     message: "needs client_auth_type RequireAndVerifyClientCert (and client_ca_file): \(why)")
            }
            if minVersion > maxVersion {
                throw WebConfigError(key: "tls_server_config.min_version",
                                     message: "\(minVersion.rawValue) is above max_version \(maxVersion.rawValue)")
            }
        }
    }

    /// `client_auth_type`, by Go's `tls.ClientAuthType` names.
    public enum ClientAuth: String, Sendable, CaseIterable {
        /// No client certificate is asked for (the default).
        case noClientCert = "NoClientCert"
        /// A certificate is asked for; none is required and any is taken unverified.
        case requestClientCert = "RequestClientCert"
        /// A certificate is required, and taken unverified.
        case requireAnyClientCert = "RequireAnyClientCert"
        /// A certificate is not required, but one that is sent must verify against the client CA.
        case verifyClientCertIfGiven = "VerifyClientCertIfGiven"
        /// A certificate is required and must verify against the client CA: client authentication.
        case requireAndVerifyClientCert = "RequireAndVerifyClientCert"

        /// Whether a client certificate is checked against `client_ca_file`.
        public var verifies: Bool { self == .verifyClientCertIfGiven || self == .requireAndVerifyClientCert }
        /// Whether a client without a certificate fails the handshake.
        public var requiresCertificate: Bool { self == .requireAnyClientCert || self == .requireAndVerifyClientCert }
    }

    /// `min_version`/`max_version`: `TLS10` … `TLS13`.
    public enum Version: String, Sendable, CaseIterable, Comparable {
        case tls10 = "TLS10", tls11 = "TLS11", tls12 = "TLS12", tls13 = "TLS13"

        public static func < (a: Version, b: Version) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    /// A `cipher_suites` entry: Go's name (the IANA name) and its TLS code point. `all` holds the
    /// suites both Go's `tls.CipherSuites()` and BoringSSL know; other names are refused.
    public struct CipherSuite: Sendable, Hashable {
        public let name: String
        /// The IANA code point (RFC 8446 §B.4, RFC 5289).
        public let code: UInt16

        /// Whether this is a TLS 1.3 suite, which BoringSSL always enables.
        public var isTLS13: Bool { code >> 8 == 0x13 }

        /// The suite with Go's name `name`, nil when it is not in `all`.
        public init?(name: String) {
            guard let known = Self.all.first(where: { $0.name == name }) else { return nil }
            self = known
        }

        init(_ name: String, _ code: UInt16) {
            self.name = name
            self.code = code
        }

        /// Every suite a web config may name.
        public static let all: [CipherSuite] = [
            .init("TLS_RSA_WITH_AES_128_CBC_SHA", 0x002F),
            .init("TLS_RSA_WITH_AES_256_CBC_SHA", 0x0035),
            .init("TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009C),
            .init("TLS_RSA_WITH_AES_256_GCM_SHA384", 0x009D),
            .init("TLS_AES_128_GCM_SHA256", 0x1301),
            .init("TLS_AES_256_GCM_SHA384", 0x1302),
            .init("TLS_CHACHA20_POLY1305_SHA256", 0x1303),
            .init("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xC009),
            .init("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 0xC00A),
            .init("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xC013),
            .init("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 0xC014),
            .init("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xC02B),
            .init("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 0xC02C),
            .init("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC02F),
            .init("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 0xC030),
            .init("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA8),
            .init("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA9),
        ]
    }

    /// A `curve_preferences` entry: Go's `tls.CurveID` name and its TLS group code point.
    public struct Curve: Sendable, Hashable {
        public let name: String
        /// The TLS supported-group code point (RFC 8446 §4.2.7).
        public let code: UInt16

        /// The curve with Go's name `name`, nil when it is not in `all`.
        public init?(name: String) {
            guard let known = Self.all.first(where: { $0.name == name }) else { return nil }
            self = known
        }

        init(_ name: String, _ code: UInt16) {
            self.name = name
            self.code = code
        }

        /// Every curve a web config may name.
        public static let all: [Curve] = [
            .init("CurveP256", 0x17), .init("CurveP384", 0x18), .init("CurveP521", 0x19),
            .init("X25519", 0x1D), .init("X25519MLKEM768", 0x11EC),
        ]
    }
}
