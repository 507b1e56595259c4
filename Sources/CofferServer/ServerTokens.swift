import CofferCore
import CofferCrypto
import CofferSystem

/// The bearer tokens `serve` accepts: a read token for /metrics, /status and
/// the page, an admin token for POST /snapshot (it reads too). Each comes from
/// the environment variable or the file `[serve]` names; nil when neither is set.
public struct ServerTokens: Sendable {
    public var read: String?
    public var admin: String?

    public init(read: String?, admin: String?) {
        self.read = read
        self.admin = admin
    }

    /// Reads the tokens; a token file must be private (not readable by group or others).
    public static func load(_ settings: CofferConfig.ServeSettings, environment: [String: String]) throws -> ServerTokens {
        func token(file: String?, variable: String) throws -> String? {
            if let file {
                guard let status = try FileSystem.status(of: file) else {
                    throw CofferError(.config, "[serve] token file \(file) does not exist")
                }
                if status.permissions & 0o077 != 0 {
                    throw CofferError(.key, "[serve] token file \(file) is readable by others (mode \(String(status.permissions, radix: 8))); chmod 600 it")
                }
                let text = String(decoding: try FileSystem.readFile(file, limit: 4096), as: UTF8.self).trimmingWhitespace()
                guard !text.isEmpty else { throw CofferError(.config, "[serve] token file \(file) is empty") }
                return text
            }
            guard let value = environment[variable]?.trimmingWhitespace(), !value.isEmpty else { return nil }
            return value
        }
        return ServerTokens(
            read: try token(file: settings.readTokenFile, variable: settings.readTokenEnv),
            admin: try token(file: settings.adminTokenFile, variable: settings.adminTokenEnv))
    }

    public enum Need: Sendable { case read, admin }

    /// Whether an `Authorization` header value grants `need`. With no token
    /// configured for it the endpoint is open (serve listens on loopback only then).
    public func allows(_ header: String?, _ need: Need) -> Bool {
        let accepted: [String]
        switch need {
        case .read:
            if read == nil && admin == nil { return true }
            accepted = [read, admin].compactMap { $0 }
        case .admin:
            guard let admin else { return read == nil }
            accepted = [admin]
        }
        guard let header, header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.utf8.dropFirst(7))
        // Both compared, whichever matches, so the time says nothing about which token it was.
        return accepted.map { SecretComparison.matches(given, Array($0.utf8)) }.contains(true)
    }
}
