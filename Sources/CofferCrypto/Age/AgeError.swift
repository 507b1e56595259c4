/// Why an age file could not be read or written.
///
/// `kind` sorts failures the way the age test vectors do, so that a caller can
/// tell "wrong key" from "corrupted file"; `message` says what was wrong and
/// never contains key material.
public struct AgeError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// The header is malformed or uses something unsupported.
        case header
        /// The header is well formed but its MAC does not match: it was altered.
        case headerMAC
        /// None of the identities can open any stanza: wrong key.
        case noMatch
        /// The encrypted payload is corrupted, truncated or has trailing data.
        case payload
        /// The ASCII armor is malformed.
        case armor
        /// A key or recipient string is malformed.
        case key
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String {
        switch kind {
        case .header: return "age header: \(message)"
        case .headerMAC: return "age header: \(message)"
        case .noMatch: return "age: \(message)"
        case .payload: return "age payload: \(message)"
        case .armor: return "age armor: \(message)"
        case .key: return "age key: \(message)"
        }
    }
}
