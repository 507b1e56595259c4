#if canImport(Glibc)
import Glibc
#endif
import CofferCrypto
import CofferFormat
import CofferSystem

/// The facts a `[[files]]` artifact carries in the manifest, by key, shared by
/// the snapshot that writes them and the stage and verify that check them.
enum FilesFacts {
    /// Per-file facts are kept for this many files at most, so a manifest stays
    /// small whatever the tree; the totals in `stats` always cover every file.
    static let listedLimit = 10_000
    /// Names of files that changed while read, kept at most.
    static let changedLimit = 1_000

    /// `stats`: what a restore finds again in the archive, compared exactly.
    static func stats(files: Int, directories: Int, bytes: Int64) -> [String: JSONValue] {
        ["files": .int(Int64(files)), "directories": .int(Int64(directories)), "bytes": .int(bytes)]
    }

    /// The manifest's per-file facts, by relative path: size and SHA-256 (hex).
    static func listed(_ source: [String: JSONValue]) -> [String: (bytes: Int64, sha256: String)] {
        var listed: [String: (bytes: Int64, sha256: String)] = [:]
        guard case .array(let items)? = source["files"] else { return listed }
        for case .object(let record) in items {
            guard let path = record["path"]?.stringValue, let bytes = record["bytes"]?.intValue, let digest = record["sha256"]?.stringValue else { continue }
            listed[path] = (bytes, digest)
        }
        return listed
    }
}

/// Writes a file or a folder as a ustar stream, in sorted (deterministic)
/// order, names relative to the configured path (a single file: its base
/// name; a folder: `./` for itself, then `sub/`, `sub/file`...). Only regular
/// files and folders are stored: a symbolic link, FIFO, socket or device is
/// refused, naming it, so nothing outside the tree is ever read through a link.
///
/// A file may change while it is read (an upload being written). Each file is
/// `fstat`ed before and after its read (size and mtime in nanoseconds). One
/// small enough (up to `rereadLimit`) is read into memory before its header
/// is written, so it is read again until it holds still, up to `attempts`
/// times; a larger one is streamed, its header announcing the size it had
/// when opened, so a change can only be detected. Either way the archive
/// stays well formed (a file that shrank is padded with zeros to the
/// announced size, one that grew is cut there), the digest recorded is that
/// of the bytes stored, and the file is named in `changed_while_read` and in
/// the snapshot's notes.
struct FilesArchiver {
    let name: String
    /// The path read: the configured one, a symbolic link there followed once.
    let root: String
    /// The entry name of a single file: the configured path's base name.
    let fileName: String
    /// A test hook (`COFFER_FAULT`) that changes each file while it is read.
    let fault: String?

    static let rereadLimit: Int64 = 4 << 20
    static let attempts = 3
    static let chunk = 1 << 20

    private(set) var records: [JSONValue] = []
    private(set) var files = 0
    private(set) var directories = 0
    private(set) var bytes: Int64 = 0
    private(set) var changed: [String] = []
    private(set) var changedCount = 0
    private(set) var reread = 0

    init(name: String, root: String, fileName: String, fault: String?) {
        self.name = name
        self.root = root
        self.fileName = fileName
        self.fault = fault
    }

    /// Streams the archive into `sink` and returns the facts for the manifest.
    mutating func archive(into sink: ByteSink) throws -> SourceFacts {
        guard let top = try FileSystem.status(of: root) else {
            throw SourceError(name, "\(root) does not exist")
        }
        try withoutActuallyEscaping(sink) { sink in
            let tar = TarWriter(sink)
            if top.isDirectory {
                try tar.addDirectory("./", mode: top.permissions, modificationTime: top.modifiedNanoseconds / 1_000_000_000)
                try walk(root, relative: "", tar: tar)
            } else if top.isRegularFile {
                try add(root, relative: fileName, tar: tar)
            } else {
                throw SourceError(name, "\(root) is \(top.kind); only a regular file or a folder can be backed up")
            }
            try tar.finish()
        }
        var source: [String: JSONValue] = [
            "format": .string("ustar"), "root": .string(top.isDirectory ? "directory" : "file"), "files": .array(records),
            "files_listed": .int(Int64(records.count)), "files_complete": .bool(records.count == files),
            "symlinks": .string("refused"),
        ]
        var notes: [String] = []
        if changedCount > 0 {
            source["changed_while_read"] = .array(changed.map { .string($0) })
            source["changed_while_read_count"] = .int(Int64(changedCount))
            let shown = changed.prefix(10).joined(separator: ", ") + (changedCount > 10 ? " and \(changedCount - 10) more" : "")
            notes.append(
                "\(name): \(changedCount) file\(changedCount == 1 ? "" : "s") changed while \(changedCount == 1 ? "it was" : "they were") read, so the bundle may hold \(changedCount == 1 ? "it" : "them") half old, half new: \(shown) (listed under changed_while_read in the manifest); stop the writer or snapshot again")
        }
        if reread > 0 { source["files_read_again"] = .int(Int64(reread)) }
        if records.count < files {
            notes.append("\(name): \(files) files; the manifest lists the size and SHA-256 of the first \(records.count) only (the totals cover all)")
        }
        return SourceFacts(source: source, stats: FilesFacts.stats(files: files, directories: directories, bytes: bytes), notes: notes)
    }

    /// The folder's entries, sorted; each sub-folder before what it holds.
    private mutating func walk(_ folder: String, relative: String, tar: TarWriter) throws {
        for child in try FileSystem.contentsOfDirectory(folder) {
            let full = FileSystem.join(folder, child)
            let path = relative.isEmpty ? child : relative + "/" + child
            guard let status = try FileSystem.linkStatus(of: full) else { continue }  // removed since the listing
            switch status.kind {
            case .directory:
                try tar.addDirectory(path, mode: status.permissions, modificationTime: status.modifiedNanoseconds / 1_000_000_000)
                directories += 1
                try walk(full, relative: path, tar: tar)
            case .regularFile:
                try add(full, relative: path, tar: tar)
            default:
                throw SourceError(
                    name,
                    "\(full) is \(status.kind); only regular files and folders are backed up (links are refused so that nothing outside \(root) is read); remove it or point path at a folder without it")
            }
        }
    }

    /// One regular file: read whole and again while it changes when small, streamed when large.
    private mutating func add(_ full: String, relative: String, tar: TarWriter) throws {
        var hasher = SHA256()
        var stable = false
        var stored: Int64 = 0
        var file = try open(full)
        var before = try file.status()
        if before.size <= Self.rereadLimit {
            var content: [UInt8] = []
            for attempt in 1...Self.attempts {
                if attempt > 1 {
                    file = try open(full)
                    before = try file.status()
                    reread += 1
                }
                content = try readWhole(file, path: full, limit: before.size, attempt: attempt)
                let after = try file.status()
                stable = Int64(content.count) == before.size && after.size == before.size && after.modifiedNanoseconds == before.modifiedNanoseconds
                if stable { break }
            }
            if content.count > Int(before.size) { content.removeLast(content.count - Int(before.size)) }
            stored = Int64(content.count)
            hasher.update(content)
            try tar.addFile(relative, size: stored, mode: before.permissions, modificationTime: before.modifiedNanoseconds / 1_000_000_000) { out in
                try content.withUnsafeBytes { try out($0) }
            }
        } else {
            stored = before.size
            var got: Int64 = 0
            try tar.addFile(relative, size: stored, mode: before.permissions, modificationTime: before.modifiedNanoseconds / 1_000_000_000) { out in
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunk, alignment: 64)
                defer { buffer.deallocate() }
                while got < stored {
                    let want = Int(min(Int64(Self.chunk), stored - got))
                    let n = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]))
                    if n == 0 {
                        // Shrunk while read: zeros keep the archive in step with its header.
                        buffer.initializeMemory(as: UInt8.self, repeating: 0)
                        let zeros = UnsafeRawBufferPointer(rebasing: buffer[..<want])
                        hasher.update(zeros)
                        try out(zeros)
                        got += Int64(want)
                        continue
                    }
                    let part = UnsafeRawBufferPointer(rebasing: buffer[..<n])
                    hasher.update(part)
                    try out(part)
                    if got == 0 { try injectFault(full, attempt: 1) }
                    got += Int64(n)
                }
            }
            let after = try file.status()
            stable = after.size == before.size && after.modifiedNanoseconds == before.modifiedNanoseconds
        }
        if !stable {
            changedCount += 1
            if changed.count < FilesFacts.changedLimit { changed.append(relative) }
        }
        files += 1
        bytes += stored
        if records.count < FilesFacts.listedLimit {
            records.append(.object(["path": .string(relative), "bytes": .int(stored), "sha256": .string(hexString(hasher.finalize()))]))
        }
    }

    /// Opens without following a link (one put there since the listing is refused).
    private func open(_ full: String) throws -> FileDescriptor {
        do { return try FileDescriptor.openRegularFile(full) } catch let error as FileTypeError {
            throw SourceError(name, "\(error); only regular files and folders are backed up")
        }
    }

    /// Up to `limit + 1` bytes (one more tells that the file grew).
    private func readWhole(_ file: borrowing FileDescriptor, path: String, limit: Int64, attempt: Int) throws -> [UInt8] {
        var content = [UInt8](repeating: 0, count: Int(limit) + 1)
        var filled = 0
        while filled < content.count {
            let want = min(64 << 10, content.count - filled)
            let n = try content.withUnsafeMutableBytes { try file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled..<(filled + want)])) }
            if n == 0 { break }
            if filled == 0 { try injectFault(path, attempt: attempt) }
            filled += n
        }
        content.removeLast(content.count - filled)
        return content
    }

    /// `COFFER_FAULT=files-change-during-read` appends to each file after its
    /// first chunk was read (every attempt, as a file being written all the
    /// time); `files-change-once-during-read` only on the first attempt (a
    /// write that ends); `files-shrink-during-read` cuts it to half its size.
    private func injectFault(_ path: String, attempt: Int) throws {
        switch fault {
        case "files-change-during-read":
            try append(to: path)
        case "files-change-once-during-read" where attempt == 1:
            try append(to: path)
        case "files-shrink-during-read":
            let size = try FileSystem.status(of: path)?.size ?? 0
            _ = truncate(path, off_t(size / 2))
        default:
            break
        }
    }

    private func append(to path: String) throws {
        var appended = try FileDescriptor(opening: path, .append(permissions: 0o600))
        try appended.write(Array("written meanwhile\n".utf8))
        try appended.close()
    }
}
