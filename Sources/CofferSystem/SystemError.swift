#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call: which call, on which path, and the errno it set.
///
/// The message is copied from `strerror` when the error is made, so it stays
/// true even if errno changes later.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    /// The call that failed, such as `open` or `rename`.
    public let operation: String
    /// The file it was about, when there is one.
    public let path: String?
    /// The errno value.
    public let code: Int32
    /// The C library's text for `code`.
    public let message: String

    public init(_ operation: String, path: String? = nil, code: Int32 = errno) {
        self.operation = operation
        self.path = path
        self.code = code
        self.message = String(cString: strerror(code))
    }

    public var description: String {
        if let path { return "\(operation) \(path): \(message)" }
        return "\(operation): \(message)"
    }
}

/// Runs a system call again while it fails with `EINTR`, and throws for any other failure.
@discardableResult
func retryingOnInterrupt<T: BinaryInteger>(
    _ operation: String, path: String? = nil, _ call: () -> T
) throws -> T {
    while true {
        let result = call()
        if result >= 0 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SystemError(operation, path: path, code: code)
    }
}
