import CofferCrypto
import CofferFormat
import CofferSystem

/// Unpacks a `[[files]]` archive into a path that does not exist yet (the
/// staging path beside the target), or only reads it through (`verify
/// --deep`), and checks it against the manifest as it goes: every entry name
/// stays inside the root (no absolute name, no `.` or `..` component, no empty
/// one, each entry's folder came before it), every listed file has the size
/// and SHA-256 the manifest records, and none is missing. Files get their
/// mode and mtime; folders are made private (0700) while filled and get
/// theirs at the end, deepest first. Everything is made durable by one
/// `syncfs` at the end. Throws `SourceError` naming the entry.
struct FilesExtractor {
    let name: String
    /// Where the tree or the single file goes; nil: read and check only.
    let destination: String?
    let listed: [String: (bytes: Int64, sha256: String)]

    private(set) var files = 0
    private(set) var directories = 0
    private(set) var bytes: Int64 = 0

    init(name: String, destination: String?, entry: ArtifactEntry) {
        self.name = name
        self.destination = destination
        listed = FilesFacts.listed(entry.source)
    }

    /// Reads the whole archive from `source`; returns the stats to compare with the manifest's.
    mutating func run(_ source: @escaping ByteSource) throws -> [String: JSONValue] {
        var reader = TarReader(source)
        var folders: Set<String> = []
        var isTree: Bool?
        var single = false
        var folderTimes: [(path: String, mode: UInt32, mtime: Int64)] = []
        var seen: Set<String> = []
        // One buffer for every file (a tree may hold thousands of small ones), wiped at the end: it held plaintext.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer {
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            buffer.deallocate()
        }
        do {
            try reader.forEachEntry { entry, content in
                if single { throw refusal(entry.name, "follows the single file of this archive") }
                if isTree == nil {
                    isTree = entry.name == "./"
                    if isTree == true {
                        guard entry.kind == .directory else { throw refusal(entry.name, "is not a folder") }
                        if let destination { try FileSystem.createDirectory(destination, permissions: 0o700) }
                        folders.insert("")
                        folderTimes.append((destination ?? "", entry.mode, entry.modificationTime))
                        return
                    }
                    guard entry.kind == .file, !entry.name.contains("/"), isPlainComponent(entry.name) else {
                        throw refusal(entry.name, "is neither the folder ./ nor a single file")
                    }
                    single = true
                    try extractFile(entry, relative: entry.name, to: destination, content: content, buffer: buffer)
                    seen.insert(entry.name)
                    return
                }
                let relative = try checkedName(entry)
                let parent = relative.split(separator: "/").dropLast().joined(separator: "/")
                guard folders.contains(parent) else { throw refusal(entry.name, "comes before its folder") }
                guard !seen.contains(relative), !folders.contains(relative) else { throw refusal(entry.name, "appears twice") }
                let path = destination.map { FileSystem.join($0, relative) }
                switch entry.kind {
                case .directory:
                    if let path { try FileSystem.createDirectory(path, permissions: 0o700) }
                    folders.insert(relative)
                    folderTimes.append((path ?? "", entry.mode, entry.modificationTime))
                    directories += 1
                case .file:
                    try extractFile(entry, relative: relative, to: path, content: content, buffer: buffer)
                    seen.insert(relative)
                }
            }
        } catch let error as Tar.Failure {
            throw SourceError(name, "the archive is not a well-formed tar: \(error.message)")
        }
        guard isTree != nil else { throw SourceError(name, "the archive is empty") }
        if let missing = listed.keys.filter({ !seen.contains($0) }).sorted().first {
            throw SourceError(name, "\(missing) is listed in the manifest but missing from the archive")
        }
        if destination != nil {
            for folder in folderTimes.reversed() {
                try FileSystem.setPermissions(folder.path, folder.mode)
                try FileSystem.setModificationTime(folder.path, nanoseconds: folder.mtime * 1_000_000_000)
            }
            if let destination { try FileSystem.syncFileSystem(holding: destination) }
        }
        return FilesFacts.stats(files: files, directories: directories, bytes: bytes)
    }

    /// One file written (0600 while written, then its mode and mtime), hashed and checked.
    private mutating func extractFile(
        _ entry: TarEntry, relative: String, to path: String?, content: ByteSource, buffer: UnsafeMutableRawBufferPointer
    ) throws {
        var hasher = SHA256()
        func forEachChunk(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
            while case let count = try content(buffer), count > 0 { try body(UnsafeRawBufferPointer(rebasing: buffer[..<count])) }
        }
        if let path {
            var file = try FileSystem.createFile(path, permissions: 0o600)
            try forEachChunk { chunk in
                hasher.update(chunk)
                try file.write(chunk)
            }
            try file.setPermissions(entry.mode)
            try file.setModificationTime(nanoseconds: entry.modificationTime * 1_000_000_000)
            try file.close()  // made durable all at once, by `syncFileSystem` after the last entry
        } else {
            try forEachChunk { hasher.update($0) }
        }
        let digest = hexString(hasher.finalize())
        if let expected = listed[relative], expected.bytes != entry.size || expected.sha256 != digest {
            throw SourceError(
                name,
                "\(relative) does not match the manifest (\(entry.size) bytes, SHA-256 \(digest); the manifest says \(expected.bytes) bytes, \(expected.sha256)): the artifact was altered")
        }
        files += 1
        bytes += entry.size
    }

    /// The entry's path relative to the root, or a refusal when it could leave it.
    private func checkedName(_ entry: TarEntry) throws -> String {
        var relative = entry.name
        if entry.kind == .directory, relative.hasSuffix("/") { relative.removeLast() }
        guard !relative.hasPrefix("/") else { throw refusal(entry.name, "is an absolute name") }
        let parts = relative.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.allSatisfy({ isPlainComponent(String($0)) }) else {
            throw refusal(entry.name, "has an empty, '.' or '..' component and could reach outside the restored folder")
        }
        return relative
    }

    private func isPlainComponent(_ part: String) -> Bool { !part.isEmpty && part != "." && part != ".." }

    private func refusal(_ entry: String, _ why: String) -> SourceError {
        SourceError(name, "the archive entry '\(entry)' \(why); nothing is restored from it")
    }
}
