import CofferSystem
import NIOSSL

/// Which certificates an `https://` endpoint may present: the system trust
/// store, plus the private CA of `[s3] ca_file`. Verification is never turned
/// off: a backup sent to a server nobody verified is sent to whoever answers.
public struct S3TLS: Sendable {
    /// `[s3] ca_file`, for messages.
    public let caFile: String?
    let extraRoots: [NIOSSLCertificate]

    /// The system trust store alone.
    public static let system = S3TLS(caFile: nil, extraRoots: [])

    private init(caFile: String?, extraRoots: [NIOSSLCertificate]) {
        self.caFile = caFile
        self.extraRoots = extraRoots
    }

    /// Reads the PEM certificates of `caFile` now, so that a missing or
    /// malformed file is a configuration error before anything is sent.
    public init(caFile: String?) throws {
        guard let caFile else {
            self = .system
            return
        }
        guard FileSystem.exists(caFile) else {
            throw StorageError(.config, "[s3] ca_file \(caFile) does not exist; name the CA certificate (PEM) that signed the server's certificate")
        }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(caFile)
        } catch {
            throw StorageError(.config, "[s3] ca_file \(caFile) cannot be read as PEM certificates (\(error)); name the CA certificate (PEM) that signed the server's certificate")
        }
        guard !certificates.isEmpty else {
            throw StorageError(.config, "[s3] ca_file \(caFile) holds no PEM certificate; name the CA certificate (PEM) that signed the server's certificate")
        }
        self.init(caFile: caFile, extraRoots: certificates)
    }

    var configuration: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .fullVerification
        if !extraRoots.isEmpty { configuration.additionalTrustRoots = [.certificates(extraRoots)] }
        return configuration
    }

    /// A readable reason when `error` is a failed TLS handshake or certificate
    /// check (never worth retrying: the same certificate comes back); nil otherwise.
    static func failure(_ error: any Error) -> String? {
        switch error {
        case let error as NIOSSLError:
            switch error {
            case .handshakeFailed(let reason): return Self.reason(String(describing: reason))
            case .uncleanShutdown: return nil
            default: return "\(error)"
            }
        case let error as NIOSSLExtraError:
            return Self.reason(String(describing: error))
        case let error as BoringSSLError:
            return Self.reason(String(describing: error))
        default:
            return nil
        }
    }

    /// BoringSSL's word for every certificate it refuses; `S3TLSDiagnosis` finds out why.
    static let verifyFailed = "certificate verify failed: not signed by a trusted CA, expired, not yet valid, or for another host"

    /// NIOSSL's own check after BoringSSL's.
    static let hostMismatch = "the certificate is not valid for this host name (its subjectAltName does not list it)"

    /// BoringSSL's codes in words.
    private static func reason(_ text: String) -> String {
        if text.contains("CERTIFICATE_VERIFY_FAILED") { return verifyFailed }
        if text.contains("failedToValidateHostname") || text.lowercased().contains("hostname") { return hostMismatch }
        if text.contains("WRONG_VERSION_NUMBER") { return "the server does not speak TLS on this port (is the endpoint http://?)" }
        return text
    }
}
