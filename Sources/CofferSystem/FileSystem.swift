#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small file-system operations that Coffer needs to be exact about:
/// permissions, durability and never overwriting by accident.
public enum FileSystem {
    /// `stat` of a path, or nil when nothing is there.
    public static func status(of path: String) throws -> FileStatus? {
        var info = stat()
        if stat(path, &info) == 0 { return FileStatus(info) }
        if errno == ENOENT || errno == ENOTDIR { return nil }
        throw SystemError("stat", path: path)
    }

    /// `lstat` of a path: a symbolic link is described itself, not followed; nil when nothing is there.
    public static func linkStatus(of path: String) throws -> FileStatus? {
        var info = stat()
        if lstat(path, &info) == 0 { return FileStatus(info) }
        if errno == ENOENT || errno == ENOTDIR { return nil }
        throw SystemError("lstat", path: path)
    }

    /// True when something exists at `path`.
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Creates `path` and its missing parents with `permissions`.
    public static func createDirectory(_ path: String, permissions: UInt32 = 0o755) throws {
        if let existing = try status(of: path) {
            if existing.isDirectory { return }
            throw SystemError("mkdir", path: path, code: ENOTDIR)
        }
        let parent = directoryName(of: path)
        if parent != path { try createDirectory(parent, permissions: permissions) }
        if mkdir(path, permissions) != 0 && errno != EEXIST { throw SystemError("mkdir", path: path) }
    }

    /// Reads a whole file, refusing one larger than `limit` bytes.
    public static func readFile(_ path: String, limit: Int = 16 << 20) throws -> [UInt8] {
        let file = try FileDescriptor(opening: path, .readOnly)
        let size = Int(try file.status().size)
        if size > limit { throw SystemError("read", path: path, code: EFBIG) }
        var bytes = [UInt8](repeating: 0, count: size + 1)
        let n = try bytes.withUnsafeMutableBytes { (buffer) in try file.readFully(into: buffer) }
        if n > size { throw SystemError("read", path: path, code: EFBIG) }  // grew while reading
        bytes.removeLast(bytes.count - n)
        return bytes
    }

    /// Creates a new file (failing if something is at `path`) whose permission
    /// bits are exactly `permissions`: they are set with `fchmod` after `open`,
    /// so the umask cannot clear any. A half-made file is removed before throwing.
    public static func createFile(_ path: String, permissions: UInt32) throws -> FileDescriptor {
        let file = try FileDescriptor(opening: path, .createNew(permissions: permissions))
        do {
            try file.setPermissions(permissions)
        } catch {
            unlink(path)
            throw error
        }
        return file
    }

    /// Writes `bytes` to `path` atomically and durably (temp file, fsync, rename, fsync of the folder).
    public static func writeFile(
        _ path: String, bytes: [UInt8], permissions: UInt32 = 0o644, replace: Bool = true
    ) throws {
        let file = try AtomicFile(creating: path, permissions: permissions)
        try file.write(bytes)
        try file.commit(replace: replace)
    }

    /// Removes a file; a missing file is not an error.
    public static func removeFile(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw SystemError("unlink", path: path) }
    }

    /// Removes a file or a folder with everything in it; a missing path is not an error.
    public static func removeTree(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw SystemError("lstat", path: path)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            // A restored read-only folder (0555) is made writable for its owner before it is emptied.
            if info.st_mode & 0o700 != 0o700 { _ = chmod(path, 0o700) }
            for name in try contentsOfDirectory(path) { try removeTree(join(path, name)) }
            if rmdir(path) != 0 && errno != ENOENT { throw SystemError("rmdir", path: path) }
        } else {
            try removeFile(path)
        }
    }

    /// Renames atomically within one file system.
    public static func rename(_ from: String, to: String) throws {
        if Glibc.rename(from, to) != 0 { throw SystemError("rename", path: "\(from) -> \(to)") }
    }

    /// Flushes a folder's entries, so that a rename or create in it survives a crash.
    public static func syncDirectory(_ path: String) throws {
        let fd = try retryingOnInterrupt("open", path: path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { _ = close(fd) }
        try retryingOnInterrupt("fsync", path: path) { fsync(fd) }
    }

    /// The names in a folder, without `.` and `..`, sorted.
    public static func contentsOfDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw SystemError("opendir", path: path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Changes permission bits.
    public static func setPermissions(_ path: String, _ permissions: UInt32) throws {
        if chmod(path, mode_t(permissions)) != 0 { throw SystemError("chmod", path: path) }
    }

    /// The folder part of a path (`.` for a bare name).
    public static func directoryName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// The last component of a path.
    public static func baseName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// Joins path components with `/`.
    public static func join(_ base: String, _ rest: String...) -> String {
        rest.reduce(base) { $0.hasSuffix("/") ? $0 + $1 : $0 + "/" + $1 }
    }

    /// `path` with symbolic links resolved (the path itself when it does not exist).
    public static func resolvingSymbolicLinks(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The current working directory.
    public static func currentDirectory() -> String {
        guard let cwd = getcwd(nil, 0) else { return "." }
        defer { free(cwd) }
        return String(cString: cwd)
    }

    /// `path` made absolute against `base` (or the working directory).
    public static func absolute(_ path: String, relativeTo base: String? = nil) -> String {
        if path.hasPrefix("/") { return path }
        return join(base ?? currentDirectory(), path)
    }
}
