import CofferFormat
import CofferSystem

/// A `[[files]]` source: one file or one folder (uploads, an exported vector
/// index, TLS material), sealed as a POSIX ustar artifact (`kind: file`,
/// `.tar`) that `tar -xf` opens after `age -d | gunzip`. The manifest records
/// the totals (files, folders, bytes) as stats, and each file's relative
/// path, size and SHA-256 for the first 10,000 files (see `FilesArchiver` for
/// what is stored and how a file that changes while read is handled).
///
/// Restore is all or nothing: the tree is unpacked and checked at
/// `.NAME.coffer-stage-ID` beside the target, then exchanged with it in one
/// step (see `TreeSwap`), the old tree kept as `NAME.pre-restore-ID` for
/// rollback. A configured path that is a symbolic link is followed once (the
/// real folder is backed up and replaced); links inside the tree are refused.
public struct FilesSource: SnapshotSource, RestoreTarget {
    public let name: String
    /// The configured file or folder (absolute).
    public let path: String
    /// `COFFER_FAULT`, for the tests' change-while-read hooks.
    public var fault: String?

    public var kind: ArtifactKind { .file }
    public var fileExtension: String { "tar" }
    public var targetDescription: String { path }

    public init(name: String, path: String, fault: String? = nil) {
        self.name = name
        self.path = path
        self.fault = fault
    }

    /// The path operated on: a symbolic link at the configured path is followed once.
    private var resolved: String { FileSystem.resolvingSymbolicLinks(path) }

    // MARK: Snapshot

    /// The files' sizes plus a header block each (links are not followed).
    public func estimatedSize() -> Int64 {
        func size(_ path: String) -> Int64 {
            guard let status = try? FileSystem.linkStatus(of: path) else { return 0 }
            guard status.isDirectory else { return status.size + 512 }
            return 512 + ((try? FileSystem.contentsOfDirectory(path)) ?? []).reduce(0) { $0 + size(FileSystem.join(path, $1)) }
        }
        return size(resolved) + 1024
    }

    public func snapshot(workDirectory: String, into sink: ByteSink) throws -> SourceFacts {
        guard FileSystem.exists(resolved) else {
            throw SourceError(name, "[[files]] path \(path) does not exist; nothing was backed up")
        }
        var archiver = FilesArchiver(name: name, root: resolved, fileName: FileSystem.baseName(of: path), fault: fault)
        return try archiver.archive(into: sink)
    }

    /// Reads an artifact's plaintext archive through (nothing written) and checks
    /// it against the manifest's per-file facts; returns its stats (`verify --deep`).
    public static func inspect(_ plaintext: String, entry: ArtifactEntry) throws -> [String: JSONValue] {
        let file = try FileDescriptor(opening: plaintext, .readOnly)
        var extractor = FilesExtractor(name: entry.name, destination: nil, entry: entry)
        return try extractor.run { try file.read(into: $0) }
    }

    // MARK: Restore

    private func swap(_ restoreID: String) -> TreeSwap { TreeSwap(name: name, target: resolved, restoreID: restoreID) }

    /// Unpacks the archive at the staging path, checking every listed file's
    /// size and SHA-256; on any error the partial stage is removed and the target is untouched.
    public func stage(restoreID: String, entry: ArtifactEntry, plaintext: (ByteSink) throws -> Void) throws -> StageReport {
        let swap = swap(restoreID)
        try FileSystem.createDirectory(FileSystem.directoryName(of: swap.target), permissions: 0o755)
        try FileSystem.removeTree(swap.staging)
        try FileSystem.removeFile(swap.identityFile)
        let stats: [String: JSONValue]
        do {
            var extractor = FilesExtractor(name: name, destination: swap.staging, entry: entry)
            stats = try withPulledStream(plaintext) { source in
                try withoutActuallyEscaping(source) { source in try extractor.run(source) }
            }
            try FileSystem.syncDirectory(FileSystem.directoryName(of: swap.staging))
            try swap.recordStaged()
        } catch {
            try? FileSystem.removeTree(swap.staging)
            try? FileSystem.removeFile(swap.identityFile)
            throw error
        }
        var notes: [String] = []
        // Files are made by the restoring user; an application running as the old owner may not write them.
        if let current = try FileSystem.linkStatus(of: swap.target), let staged = try FileSystem.linkStatus(of: swap.staging),
            current.owner != staged.owner || current.group != staged.group
        {
            notes.append(
                "\(name): the restored \(path) will belong to user \(staged.owner), group \(staged.group), not \(current.owner), \(current.group) as now; chown it after the restore if the application needs that")
        }
        if case .array(let changed)? = entry.source["changed_while_read"], !changed.isEmpty {
            let count = entry.source["changed_while_read_count"]?.intValue ?? Int64(changed.count)
            notes.append("\(name): the snapshot read \(count) file\(count == 1 ? "" : "s") while \(count == 1 ? "it" : "they") changed (see changed_while_read in the manifest); \(count == 1 ? "it" : "they") may not be consistent")
        }
        if entry.source["files_complete"] == .bool(false) {
            notes.append("\(name): the manifest lists \(entry.source["files_listed"]?.intValue ?? 0) files by digest; the others were checked by the archive's totals and the artifact's digest only")
        }
        return StageReport(stats: stats, notes: notes)
    }

    /// Exchanges the staged tree with the target (the old one kept as `PATH.pre-restore-ID`).
    public func commit(restoreID: String) throws { try swap(restoreID).commit() }

    public func undo(restoreID: String) throws { try swap(restoreID).undo() }

    /// Whether the target is the staged root, by device and inode.
    public func content(restoreID: String) throws -> TargetContent { try swap(restoreID).content() }

    public func discardStage(restoreID: String) { swap(restoreID).discardStage() }

    public func finalize(restoreID: String) throws { try swap(restoreID).finalize() }

    public func hasPreRestoreCopy(restoreID: String) throws -> Bool { try swap(restoreID).hasKeptCopy() }
}
