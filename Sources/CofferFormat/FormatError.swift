/// Why a bundle or repository cannot be trusted or read.
public struct FormatError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        /// A format version this build does not know.
        case unsupportedVersion
        /// The manifest or repository descriptor is not what Coffer writes.
        case malformed
        /// The signature is missing, invalid, or by a key that is not trusted.
        case signature
        /// An object's size or SHA-256 differs from the signed manifest.
        case digest
        /// An object listed in the manifest is missing.
        case missing
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
