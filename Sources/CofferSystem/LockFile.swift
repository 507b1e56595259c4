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

    /// Replaces the file's bytes (who holds the lock, for a process that finds it taken).
    /// Readers open the file by path; the lock itself stays on the descriptor.
    public func replaceContents(_ bytes: [UInt8]) throws {
        guard descriptor >= 0 else { return }
        guard ftruncate(descriptor, 0) == 0 else { throw SystemError("ftruncate", path: "lock file") }
        let written = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        guard written == bytes.count else { throw SystemError("pwrite", path: "lock file") }
    }

    public func release() {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
        }
    }

    deinit { release() }
}
