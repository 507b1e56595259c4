#if canImport(Glibc)
import Glibc
#endif

/// An exclusive advisory lock (`flock`) on a file, released on `release` or
/// by the kernel when the process ends.
public final class LockFile: @unchecked Sendable {
    // @unchecked Sendable: the descriptor is only closed once, by `release`.
    private var descriptor: Int32

    /// Takes the lock without waiting; nil when another process holds it.
    public init?(path: String) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError("open", path: path) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { return nil }
            throw SystemError("flock", path: path, code: code)
        }
        descriptor = fd
    }

    public func release() {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
        }
    }

    deinit { release() }
}
