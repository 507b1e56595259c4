/// An operation's failure as the user should see it: what went wrong, what to
/// do, and which exit status it maps to. Never carries a secret.
public struct CofferError: Error, CustomStringConvertible, Sendable {
    /// Exit statuses, documented in docs/OPERATIONS.md.
    public enum Category: Int32, Sendable {
        /// Something failed (I/O, a program, an unexpected state).
        case failure = 1
        /// The configuration is missing or invalid.
        case config = 3
        /// A key is missing, unreadable, too open, or the wrong one.
        case key = 4
        /// Data failed verification: bad signature, digest or authentication.
        case integrity = 5
        /// Refused because it would overwrite or lose something.
        case refused = 6
        /// Another run holds the repository lock (a snapshot, prune or key rotation of the same environment).
        case busy = 7
    }

    public let category: Category
    public let message: String

    public init(_ category: Category, _ message: String) {
        self.category = category
        self.message = message
    }

    public var description: String { message }
}
