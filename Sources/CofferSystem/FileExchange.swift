#if canImport(Glibc)
import Glibc
#endif
import CProcess

extension FileSystem {
    /// Swaps what two names point at in one step (`renameat2` with
    /// `RENAME_EXCHANGE`): both exist before and after, and at no moment is
    /// either name missing or half of one and half of the other. They may be a
    /// folder and a file; they must be on one file system. This is how a folder
    /// is replaced whole, which `rename(2)` cannot do over a non-empty folder.
    ///
    /// Throws `SystemError` (`EINVAL` where the file system cannot exchange,
    /// `ENOENT` when either is missing).
    public static func exchange(_ first: String, _ second: String) throws {
        try retryingOnInterrupt("renameat2 (RENAME_EXCHANGE)", path: "\(first) <-> \(second)") { coffer_rename_exchange(first, second) }
    }

    /// Makes everything written to the file system that holds `path` durable
    /// (`syncfs(2)`): one call after a tree of many files is written, where an
    /// `fsync` per file would cost a disk flush each (10,000 files: minutes).
    public static func syncFileSystem(holding path: String) throws {
        let fd = try retryingOnInterrupt("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { _ = close(fd) }
        try retryingOnInterrupt("syncfs", path: path) { coffer_syncfs(fd) }
    }
}
