#if canImport(Glibc)
import Glibc
#endif
import CofferSystem

/// A repository in a local folder.
///
/// A bundle is written into a hidden temporary folder beside its final place
/// (`.partial-ID-PID`), every file and folder fsynced, then renamed into place
/// in one step and the parent fsynced: a crash leaves either no bundle or a
/// whole one. Leftover partial folders are removed by `removeAbandonedWrites`.
public struct LocalStorage: Storage {
    public let root: String
    public var location: String { root }

    static let partialPrefix = ".partial-"
    static let deletingPrefix = ".deleting-"

    /// False for a scratch copy that must not outlive the command (a drill's
    /// fetched bundle): its bundles skip every fsync, which a real repository needs.
    public let durable: Bool

    public init(root: String, durable: Bool = true) {
        self.root = root
        self.durable = durable
    }

    func path(_ key: String) -> String { FileSystem.join(root, key) }

    public func beginBundle(at prefix: String) throws -> any BundleWriter {
        let final = path(prefix)
        if FileSystem.exists(final) { throw StorageError(.exists, "\(final) already exists") }
        let parent = FileSystem.directoryName(of: final)
        try FileSystem.createDirectory(parent, permissions: 0o755)
        let partial = FileSystem.join(parent, "\(Self.partialPrefix)\(FileSystem.baseName(of: final))-\(getpid())")
        try FileSystem.createDirectory(partial, permissions: 0o755)
        return LocalBundleWriter(partial: partial, final: final, root: root, durable: durable)
    }

    public func read(_ key: String, range: Range<Int64>?, into sink: ByteSink) throws {
        let file = try open(key)
        guard let range else { return try forEachBlock(read: { try file.read(into: $0) }, blockSize: 1 << 20, sink) }
        try file.seek(to: range.lowerBound)
        var left = range.upperBound - range.lowerBound
        // Not zeroed: the file's bytes fill what is passed on (a chunk read is a fresh megabyte each time).
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(max(1, min(left, 1 << 20))), alignment: 16)
        defer { block.deallocate() }
        while left > 0 {
            let count = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: block.prefix(Int(min(Int64(block.count), left)))))
            guard count > 0 else { break }
            left -= Int64(count)
            try sink(UnsafeRawBufferPointer(rebasing: block.prefix(count)))
        }
    }

    /// Opens an object for reading: only a regular file, opened without
    /// blocking (a FIFO or a device in its place is refused at once, a symbolic
    /// link is not followed).
    private func open(_ key: String) throws -> FileDescriptor {
        try checkRoot()
        do {
            return try FileDescriptor.openRegularFile(path(key))
        } catch let error as SystemError where error.code == ENOENT || error.code == ENOTDIR {
            throw StorageError(.notFound, "\(path(key)) is missing")
        } catch let error as FileTypeError {
            throw StorageError(.invalid, "\(error); a repository holds only regular files")
        }
    }

    /// A repository path that exists must be a folder: a file there is a configuration mistake, not an empty repository.
    private func checkRoot() throws {
        if let status = try FileSystem.status(of: root), !status.isDirectory {
            throw StorageError(.config, "the repository \(root) is \(status.kind), not a folder; check `repository` in the config")
        }
    }

    /// Reads no more than `limit` bytes: the size is checked with `fstat` before
    /// reading, and a file that grows meanwhile is refused too.
    public func readSmall(_ key: String, limit: Int) throws -> [UInt8]? {
        do {
            let file = try open(key)
            let size = try file.status().size
            guard size <= Int64(limit) else {
                throw StorageError(.invalid, "\(path(key)) is \(size) bytes, more than the \(limit) expected")
            }
            var bytes = [UInt8](repeating: 0, count: Int(size) + 1)
            let count = try bytes.withUnsafeMutableBytes { try file.readFully(into: $0) }
            guard Int64(count) <= size else {
                throw StorageError(.invalid, "\(path(key)) grew while being read, past the \(size) bytes it had")
            }
            bytes.removeLast(bytes.count - count)
            return bytes
        } catch let error as StorageError where error.kind == .notFound {
            return nil
        }
    }

    public func writeSmall(_ key: String, _ bytes: [UInt8]) throws {
        try FileSystem.createDirectory(FileSystem.directoryName(of: path(key)), permissions: 0o755)
        try FileSystem.writeFile(path(key), bytes: bytes)
    }

    /// Writes a hidden temporary file, fsyncs it, then hard-links it to its
    /// name: `link` fails if the name exists, so the object appears whole, once.
    public func createSmall(_ key: String, _ bytes: [UInt8]) throws {
        let final = path(key)
        let folder = FileSystem.directoryName(of: final)
        try FileSystem.createDirectory(folder, permissions: 0o755)
        let temporary = FileSystem.join(folder, ".coffer-create-\(getpid())-\(FileSystem.baseName(of: final))")
        var file = try FileDescriptor(opening: temporary, .overwrite(permissions: 0o644))
        defer { unlink(temporary) }
        try file.write(bytes)
        try file.sync()
        try file.close()
        if link(temporary, final) != 0 {
            if errno == EEXIST { throw StorageError(.exists, "\(final) already exists") }
            throw SystemError("link", path: final)
        }
        try FileSystem.syncDirectory(folder)
    }

    public func writeStream(_ key: String, _ produce: (ByteSink) throws -> Void) throws {
        try FileSystem.createDirectory(FileSystem.directoryName(of: path(key)), permissions: 0o755)
        let file = try AtomicFile(creating: path(key), permissions: 0o644)
        try withWriteBehind({ try file.write($0) }) { sink in try produce(sink) }
        try file.commit(replace: true, durable: true)
    }

    public func writeUnsynced(_ key: String, _ bytes: [UInt8]) throws {
        try FileSystem.createDirectory(FileSystem.directoryName(of: path(key)), permissions: 0o755)
        let file = try AtomicFile(creating: path(key), permissions: 0o644)
        try bytes.withUnsafeBytes { try file.write($0) }
        try file.commit(replace: true, durable: false)
    }

    public func syncWrites() throws {
        if durable { try FileSystem.syncFileSystem(holding: root) }
    }

    /// Walks the folder; symbolic links and other non-regular entries are listed too (a read refuses them).
    public func objects(under prefix: String) throws -> [StoredObject] {
        try checkRoot()
        var found: [StoredObject] = []
        func walk(_ folder: String, _ key: String) throws {
            for name in try FileSystem.contentsOfDirectory(folder) where !name.hasPrefix(".") {
                let entry = FileSystem.join(folder, name)
                guard let status = try FileSystem.linkStatus(of: entry) else { continue }
                if status.isDirectory {
                    try walk(entry, "\(key)/\(name)")
                } else {
                    found.append(StoredObject(key: "\(key)/\(name)", size: status.size, modified: status.modifiedNanoseconds / 1_000_000_000))
                }
            }
        }
        guard let status = try FileSystem.linkStatus(of: path(prefix)), status.isDirectory else { return [] }
        try walk(path(prefix), prefix)
        return found.sorted { $0.key < $1.key }
    }

    public func delete(_ key: String) throws {
        if unlink(path(key)) != 0 && errno != ENOENT { throw SystemError("unlink", path: path(key)) }
        try FileSystem.syncDirectory(FileSystem.directoryName(of: path(key)))
    }

    public func children(of prefix: String) throws -> [String] {
        try checkRoot()
        let folder = path(prefix)
        guard let status = try FileSystem.status(of: folder), status.isDirectory else { return [] }
        return try FileSystem.contentsOfDirectory(folder).filter { !$0.hasPrefix(".") }
    }

    /// The size `lstat` reports: a symbolic link or FIFO in place of an object
    /// is present (and refused when read), never followed.
    public func size(of key: String) throws -> Int64? {
        try FileSystem.linkStatus(of: path(key))?.size
    }

    /// Walks the folder: any entry that is not a folder is an object.
    public func containsObjects(under prefix: String) throws -> Bool {
        func walk(_ folder: String) throws -> Bool {
            for name in try FileSystem.contentsOfDirectory(folder) {
                let entry = FileSystem.join(folder, name)
                guard let status = try FileSystem.linkStatus(of: entry) else { continue }
                if try !status.isDirectory || walk(entry) { return true }
            }
            return false
        }
        guard let status = try FileSystem.linkStatus(of: path(prefix)) else { return false }
        return status.isDirectory ? try walk(path(prefix)) : true
    }

    /// Renames the bundle folder to a hidden name (one atomic step: the bundle is
    /// gone), syncs, then removes it.
    public func deleteBundle(at prefix: String) throws {
        let folder = path(prefix)
        guard FileSystem.exists(folder) else { return }
        let parent = FileSystem.directoryName(of: folder)
        let hidden = FileSystem.join(parent, "\(Self.deletingPrefix)\(FileSystem.baseName(of: folder))-\(getpid())")
        try FileSystem.rename(folder, to: hidden)
        try FileSystem.syncDirectory(parent)
        try FileSystem.removeTree(hidden)
    }

    /// Free space for an unprivileged writer on the file system that holds (or will hold) the repository.
    public func availableBytes() throws -> Int64? {
        var folder = root
        while !FileSystem.exists(folder) && folder != "/" { folder = FileSystem.directoryName(of: folder) }
        var info = statvfs()
        guard statvfs(folder, &info) == 0 else { throw SystemError("statvfs", path: folder) }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    /// Writes a probe file in the repository folder; before the folder exists,
    /// checks that the nearest existing parent lets it be created.
    public func checkWritable() throws {
        guard FileSystem.exists(root) else {
            var folder = FileSystem.directoryName(of: root)
            while !FileSystem.exists(folder) && folder != "/" { folder = FileSystem.directoryName(of: folder) }
            if access(folder, W_OK) != 0 { throw SystemError("create the repository folder in", path: folder) }
            return
        }
        let probe = FileSystem.join(root, ".coffer-probe-\(getpid())")
        try FileSystem.writeFile(probe, bytes: Array("probe\n".utf8))
        try FileSystem.removeTree(probe)
    }

    /// Local writers leave their process id in the name: a leftover whose process is gone is abandoned, whatever its age.
    public func removeAbandonedWrites(now: Int64) throws -> Int {
        var removed = 0
        let bundles = path("bundles")
        guard FileSystem.exists(bundles) else { return 0 }
        for environment in try FileSystem.contentsOfDirectory(bundles) {
            let folder = FileSystem.join(bundles, environment)
            guard (try FileSystem.status(of: folder))?.isDirectory == true else { continue }
            for name in try FileSystem.contentsOfDirectory(folder) where name.hasPrefix(Self.partialPrefix) || name.hasPrefix(Self.deletingPrefix) {
                // `.partial-ID-PID` / `.deleting-ID-PID`: keep it while its process is alive.
                if let pid = Int32(name.split(separator: "-").last ?? ""), ProcessIdentity.isAlive(pid) { continue }
                try FileSystem.removeTree(FileSystem.join(folder, name))
                removed += 1
            }
        }
        return removed
    }
}

final class LocalBundleWriter: BundleWriter {
    let partial: String
    let final: String
    let root: String
    let durable: Bool
    private var written: [String] = []
    private var done = false

    init(partial: String, final: String, root: String, durable: Bool) {
        self.partial = partial
        self.final = final
        self.root = root
        self.durable = durable
    }

    func write(_ name: String, _ produce: (ByteSink) throws -> Void) throws {
        let target = FileSystem.join(partial, name)
        try FileSystem.createDirectory(FileSystem.directoryName(of: target), permissions: 0o755)
        var file = try FileDescriptor(opening: target, .createNew(permissions: 0o644))
        try withWriteBehind({ try file.write($0) }) { sink in try produce(sink) }
        if durable { try file.sync() }
        try file.close()
        written.append(FileSystem.directoryName(of: target))
    }

    func commit() throws {
        guard durable else {
            try FileSystem.rename(partial, to: final)
            done = true
            return
        }
        for folder in Set(written) { try FileSystem.syncDirectory(folder) }
        try FileSystem.syncDirectory(partial)
        try FileSystem.rename(partial, to: final)
        // The rename, and any folder created for this environment, must survive a crash.
        var folder = FileSystem.directoryName(of: final)
        while true {
            try FileSystem.syncDirectory(folder)
            if folder == root || folder.count <= root.count { break }
            folder = FileSystem.directoryName(of: folder)
        }
        done = true
    }

    func abort() {
        if !done { try? FileSystem.removeTree(partial) }
        done = true
    }

    deinit { abort() }
}
