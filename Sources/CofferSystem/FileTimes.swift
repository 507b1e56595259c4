#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Modification times set back to what an archive recorded, so a restored tree
/// looks as it did (tools that compare by mtime, such as rsync or make, see no change).
extension FileSystem {
    /// Sets the modification time of `path` itself (a symbolic link is not
    /// followed); the access time is left as it is.
    public static func setModificationTime(_ path: String, nanoseconds: Int64) throws {
        var times = [FileSystem.leaveAccessTime, FileSystem.timespecOf(nanoseconds)]
        try retryingOnInterrupt("utimensat", path: path) { utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW) }
    }

    /// `UTIME_OMIT` (`(1l << 30) - 2l` in <sys/stat.h>, a macro Swift does not import): leave that time as it is.
    static let leaveAccessTime = timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2)

    static func timespecOf(_ nanoseconds: Int64) -> timespec {
        let seconds = nanoseconds >= 0 ? nanoseconds / 1_000_000_000 : (nanoseconds - 999_999_999) / 1_000_000_000
        return timespec(tv_sec: Int(seconds), tv_nsec: Int(nanoseconds - seconds * 1_000_000_000))
    }
}
