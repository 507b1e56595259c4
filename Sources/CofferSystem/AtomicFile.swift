#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file that appears at its final path whole or not at all.
///
/// Bytes go to a hidden temporary file in the same folder; `commit` syncs it and
/// renames it into place, then syncs the folder. If the value is dropped without
/// `commit` (an error, a cancelled operation), the temporary file is removed, so a
/// failure leaves nothing behind.
public struct AtomicFile: ~Copyable {
    /// Where the file will appear.
    public let path: String
    /// The temporary file being written.
    public let temporaryPath: String
    private var file: FileDescriptor
    private var committed = false

    /// Prefix of every temporary file, so that leftovers of a killed process can be recognised.
    public static let temporaryPrefix = ".coffer-tmp-"

    public init(creating path: String, permissions: UInt32 = 0o644) throws {
        var chosen = ""
        let opened = try Self.createTemporary(beside: path, permissions: permissions, chosenPath: &chosen)
        self.path = path
        self.temporaryPath = chosen
        self.file = opened
    }

    private static func createTemporary(
        beside path: String, permissions: UInt32, chosenPath: inout String
    ) throws -> FileDescriptor {
        let folder = FileSystem.directoryName(of: path)
        var attempt = 0
        while true {
            let candidate = FileSystem.join(
                folder, "\(temporaryPrefix)\(FileSystem.baseName(of: path)).\(getpid()).\(UInt32.random(in: 0...UInt32.max))")
            do {
                try TemporaryLedger.record(candidate)
                let opened = try FileDescriptor(opening: candidate, .createNew(permissions: permissions))
                chosenPath = candidate
                do {
                    // The umask may have cleared bits; secret files must be exactly what was asked.
                    try opened.setPermissions(permissions)
                } catch {
                    unlink(candidate)
                    throw error
                }
                return opened
            } catch let error as SystemError where error.code == EEXIST && attempt < 16 {
                attempt += 1
            }
        }
    }

    /// Appends bytes.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try file.write(bytes)
    }

    /// Appends bytes.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (buffer) in try write(buffer) }
    }

    /// Moves the file to `path`, after making it durable unless `durable` is false.
    ///
    /// With `replace: false` an existing file at `path` is never touched: the
    /// commit fails with `EEXIST` (done with `link(2)`, which cannot overwrite).
    /// Without durability the rename is still atomic, but a crash soon after may
    /// lose the content (as with `cp`); bundles and keys are always durable.
    public consuming func commit(replace: Bool = true, durable: Bool = true) throws {
        if durable { try file.sync() }
        try file.close()
        if replace {
            try FileSystem.rename(temporaryPath, to: path)
        } else {
            if link(temporaryPath, path) != 0 { throw SystemError("create", path: path) }
            try FileSystem.removeFile(temporaryPath)
        }
        committed = true
        if durable { try FileSystem.syncDirectory(FileSystem.directoryName(of: path)) }
    }

    deinit {
        if !committed { unlink(temporaryPath) }
    }
}
