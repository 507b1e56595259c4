/// A key file that cannot be used, with what to do about it.
public struct KeyFileError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        /// A secret key file readable by group or others.
        case permissionsTooOpen
        /// The file does not exist.
        case missing
        /// The file's content is not the expected key format.
        case malformed
        /// Refused to overwrite an existing key file.
        case exists
        /// The file could not be read or written.
        case io
    }

    public let kind: Kind
    public let path: String
    public let message: String

    public init(_ kind: Kind, path: String, _ message: String) {
        self.kind = kind
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
