#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open file that closes itself.
///
/// There is exactly one owner; `deinit` closes the descriptor, `close()` does it
/// early and reports the error that `deinit` would have to swallow.
public struct FileDescriptor: ~Copyable {
    /// How to open a file.
    public enum Mode: Sendable {
        case readOnly
        /// Create a new file; fail if one exists.
        case createNew(permissions: UInt32)
        /// Create or truncate.
        case overwrite(permissions: UInt32)
        /// Append to an existing file, creating it if needed.
        case append(permissions: UInt32)
        /// Write to something that exists and is not a regular file (a device, a FIFO).
        case writeExisting
    }

    private var raw: Int32
    /// The path it was opened from, for error messages.
    public let path: String

    public init(opening path: String, _ mode: Mode) throws {
        let flags: Int32
        let permissions: UInt32
        switch mode {
        case .readOnly: (flags, permissions) = (O_RDONLY, 0)
        case .createNew(let p): (flags, permissions) = (O_WRONLY | O_CREAT | O_EXCL, p)
        case .overwrite(let p): (flags, permissions) = (O_WRONLY | O_CREAT | O_TRUNC, p)
        case .append(let p): (flags, permissions) = (O_WRONLY | O_CREAT | O_APPEND, p)
        case .writeExisting: (flags, permissions) = (O_WRONLY, 0)
        }
        raw = try retryingOnInterrupt("open", path: path) { open(path, flags | O_CLOEXEC, permissions) }
        self.path = path
        self.owned = true
    }

    /// Wraps a descriptor the process already has, such as standard input. It is not closed.
    public static func standardInput() -> FileDescriptor { FileDescriptor(borrowed: 0, path: "<stdin>") }
    /// Standard output, not closed.
    public static func standardOutput() -> FileDescriptor { FileDescriptor(borrowed: 1, path: "<stdout>") }

    private let owned: Bool
    private init(borrowed raw: Int32, path: String) {
        self.raw = raw
        self.path = path
        self.owned = false
    }

    /// Takes ownership of a descriptor this module has just opened.
    init(adopting raw: Int32, path: String) {
        self.raw = raw
        self.path = path
        self.owned = true
    }

    /// Reads up to `buffer.count` bytes; returns 0 only at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0, let base = buffer.baseAddress else { return 0 }
        return try retryingOnInterrupt("read", path: path) { Glibc.read(raw, base, buffer.count) }
    }

    /// Moves the read/write position to `offset` bytes from the start.
    public func seek(to offset: Int64) throws {
        if lseek(raw, off_t(offset), SEEK_SET) < 0 { throw SystemError("lseek", path: path) }
    }

    /// Reads until `buffer` is full or the file ends; returns how many bytes were read.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 { break }
            filled += n
        }
        return filled
    }

    /// Writes every byte of `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[done...])
            guard let base = rest.baseAddress else { return }
            done += try retryingOnInterrupt("write", path: path) { Glibc.write(raw, base, rest.count) }
        }
    }

    /// Writes every byte of `bytes`.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (buffer) in try write(buffer) }
    }

    /// Flushes the file's data and metadata to the disk.
    public func sync() throws {
        try retryingOnInterrupt("fsync", path: path) { fsync(raw) }
    }

    /// The file's permission bits and owner, from `fstat`.
    public func status() throws -> FileStatus {
        var info = stat()
        try retryingOnInterrupt("fstat", path: path) { fstat(raw, &info) }
        return FileStatus(info)
    }

    /// Changes the permission bits of the open file.
    public func setPermissions(_ permissions: UInt32) throws {
        try retryingOnInterrupt("fchmod", path: path) { fchmod(raw, mode_t(permissions)) }
    }

    /// Sets the open file's modification time (`futimens`), as an archive
    /// recorded it; the access time is left as it is.
    public func setModificationTime(nanoseconds: Int64) throws {
        var times = [FileSystem.leaveAccessTime, FileSystem.timespecOf(nanoseconds)]
        try retryingOnInterrupt("futimens", path: path) { futimens(raw, &times) }
    }

    /// Gives the open file to `user` and `group` (`fchown`). Returns false,
    /// changing nothing, when the process may not: it is neither root nor the
    /// file's owner, or the owner but not a member of `group` (`EPERM`).
    public func setOwner(user: UInt32, group: UInt32) throws -> Bool {
        if fchown(raw, uid_t(user), gid_t(group)) == 0 { return true }
        if errno == EPERM { return false }
        throw SystemError("fchown", path: path)
    }

    /// Closes now and reports a failure (for example a delayed write error).
    /// Later reads and writes fail with `EBADF`.
    public mutating func close() throws {
        let fd = raw
        raw = -1
        if owned, Glibc.close(fd) != 0 { throw SystemError("close", path: path) }
    }

    deinit {
        if owned, raw >= 0 { _ = Glibc.close(raw) }
    }
}

/// What `stat` says about a file that Coffer cares about.
public struct FileStatus: Sendable {
    /// Permission bits (`0o7777` part of `st_mode`).
    public let permissions: UInt32
    /// Size in bytes.
    public let size: Int64
    /// True for a regular file.
    public let isRegularFile: Bool
    /// True for a directory.
    public let isDirectory: Bool
    /// The owner's user id.
    public let owner: UInt32
    /// The group id.
    public let group: UInt32
    /// What kind of file it is.
    public let kind: FileKind
    /// Last modification, nanoseconds since 1970: with `size`, tells a cache that a file changed.
    public let modifiedNanoseconds: Int64
    /// The device and inode: together they name the file itself, whatever names it has
    /// (so a target can tell which content a path holds after renames).
    public let device: UInt64
    public let inode: UInt64

    init(_ info: stat) {
        modifiedNanoseconds = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        permissions = UInt32(info.st_mode) & 0o7777
        size = Int64(info.st_size)
        kind = FileKind(mode: UInt32(info.st_mode))
        isRegularFile = kind == .regularFile
        isDirectory = kind == .directory
        owner = UInt32(info.st_uid)
        group = UInt32(info.st_gid)
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}

/// The type bits of `st_mode`, named for messages ("a FIFO, not a regular file").
public enum FileKind: String, Sendable, CustomStringConvertible {
    case regularFile = "a regular file"
    case directory = "a directory"
    case symbolicLink = "a symbolic link"
    case fifo = "a FIFO (named pipe)"
    case characterDevice = "a character device"
    case blockDevice = "a block device"
    case socket = "a socket"
    case unknown = "a file of unknown type"

    init(mode: UInt32) {
        switch mode & UInt32(S_IFMT) {
        case UInt32(S_IFREG): self = .regularFile
        case UInt32(S_IFDIR): self = .directory
        case UInt32(S_IFLNK): self = .symbolicLink
        case UInt32(S_IFIFO): self = .fifo
        case UInt32(S_IFCHR): self = .characterDevice
        case UInt32(S_IFBLK): self = .blockDevice
        case UInt32(S_IFSOCK): self = .socket
        default: self = .unknown
        }
    }

    public var description: String { rawValue }
}
