/// Why a minisign key or signature was refused.
public struct MinisignError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// The file is not in minisign's format.
        case malformed
        /// An algorithm or KDF this implementation does not know.
        case unsupported
        /// The signature was made by a different key than the one trusted.
        case unknownKeyID
        /// The signature does not match the data: altered data or signature.
        case badSignature
        /// The trusted comment was altered after signing.
        case badTrustedComment
        /// The password for an encrypted secret key is wrong.
        case wrongPassword
        /// A legacy ("Ed") signature where only prehashed ones are accepted.
        case legacyRefused
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "minisign: \(message)" }
}
