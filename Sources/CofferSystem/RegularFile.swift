#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Something other than a regular file where only a regular file may be, such
/// as a FIFO, a device or a symbolic link in place of a repository object.
public struct FileTypeError: Error, CustomStringConvertible, Sendable {
    /// The path that was opened.
    public let path: String
    /// What was found there.
    public let kind: FileKind

    public init(path: String, kind: FileKind) {
        self.path = path
        self.kind = kind
    }

    public var description: String { "\(path) is \(kind), not a regular file" }
}

extension FileDescriptor {
    /// Opens an existing regular file for reading without ever waiting on it.
    ///
    /// `O_NONBLOCK` makes a FIFO without a writer, or a device, open at once
    /// instead of blocking (it changes nothing for a regular file);
    /// `O_NOFOLLOW` refuses a symbolic link in the last component (a link to
    /// `/dev/zero` is never read); `fstat` then refuses anything that is not a
    /// regular file, and the descriptor is closed before throwing.
    ///
    /// Throws `FileTypeError` for a link, FIFO, device, socket or directory, and
    /// `SystemError` for the rest (`ENOENT` when nothing is there).
    public static func openRegularFile(_ path: String) throws -> FileDescriptor {
        let raw: Int32
        do {
            raw = try retryingOnInterrupt("open", path: path) { open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC) }
        } catch let error as SystemError where error.code == ELOOP {
            var info = stat()
            if lstat(path, &info) == 0, FileKind(mode: UInt32(info.st_mode)) == .symbolicLink {
                throw FileTypeError(path: path, kind: .symbolicLink)
            }
            throw error
        }
        let file = FileDescriptor(adopting: raw, path: path)
        let kind = try file.status().kind
        guard kind == .regularFile else { throw FileTypeError(path: path, kind: kind) }
        return file
    }
}
