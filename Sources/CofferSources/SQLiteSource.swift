import CofferFormat
import CofferSystem

/// A SQLite database: snapshot with the online backup API, restore through it too.
public struct SQLiteSource: SnapshotSource, RestoreTarget {
    public let name: String
    /// The live database file.
    public let path: String
    /// How long a commit waits for other connections' write locks.
    public var busyTimeoutMilliseconds: Int32 = 5000

    public var kind: ArtifactKind { .sqlite }
    public var fileExtension: String { "sqlite" }
    public var targetDescription: String { path }

    public init(name: String, path: String) {
        self.name = name
        self.path = path
    }

    // MARK: Snapshot

    /// The database file and its WAL: what the backup copies, at most.
    public func estimatedSize() -> Int64 {
        ["", "-wal"].reduce(0) { total, suffix in total + ((try? FileSystem.status(of: path + suffix))??.size ?? 0) }
    }

    public func snapshot(workDirectory: String, into sink: ByteSink) throws -> SourceFacts {
        guard FileSystem.exists(path) else {
            throw SourceError(name, "the database \(path) does not exist")
        }
        let copy = FileSystem.join(workDirectory, "\(name).sqlite")
        defer { try? FileSystem.removeFile(copy) }
        let journalMode: String
        do {
            let live = try SQLiteDatabase(path: path, readOnly: true)
            live.setBusyTimeout(milliseconds: busyTimeoutMilliseconds)
            journalMode = try live.rows("PRAGMA journal_mode").first?.first.flatMap { $0 } ?? "unknown"
            try? FileSystem.removeFile(copy)
            let destination = try SQLiteDatabase(path: copy, create: true)
            try FileSystem.setPermissions(copy, 0o600)
            try live.backup(into: destination)
            // A standalone copy: no WAL beside it, so the one file is the whole database.
            if journalMode.lowercased() == "wal" { try destination.execute("PRAGMA journal_mode = DELETE") }
        } catch let error as SQLiteError {
            throw SourceError(name, "cannot snapshot \(path): \(error)")
        }
        let stats = try Self.inspect(copy, name: name)
        try streamFile(copy, into: sink)
        let copyDatabase = try SQLiteDatabase(path: copy, readOnly: true)
        let pageSize = try copyDatabase.integer("PRAGMA page_size")
        return SourceFacts(
            source: [
                "sqlite_version": .string(SQLiteDatabase.libraryVersion), "file": .string(FileSystem.baseName(of: path)),
                "journal_mode": .string(journalMode), "page_size": .int(pageSize),
            ],
            stats: stats)
    }

    /// Checks a database file (`integrity_check`) and returns its row counts as stats.
    public static func inspect(_ file: String, name: String) throws -> [String: JSONValue] {
        do {
            let database = try SQLiteDatabase(path: file, readOnly: true)
            let integrity = try database.integrityCheck()
            guard integrity == "ok" else { throw SourceError(name, "integrity_check failed: \(integrity)") }
            let counts = try database.rowCounts()
            return ["tables": .object(counts.mapValues { .int($0) })]
        } catch let error as SQLiteError {
            throw SourceError(name, "not a valid SQLite database: \(error.message)")
        }
    }

    // MARK: Restore

    var side: SideFiles { SideFiles(target: path) }

    public func stage(restoreID: String, entry: ArtifactEntry, plaintext: (ByteSink) throws -> Void) throws -> StageReport {
        let staging = side.staging(restoreID)
        try FileSystem.createDirectory(FileSystem.directoryName(of: path), permissions: 0o755)
        try writeNewFile(staging, plaintext)
        do {
            return StageReport(stats: try Self.inspect(staging, name: name))
        } catch {
            discardStage(restoreID: restoreID)
            throw error
        }
    }

    /// Files SQLite keeps beside a database that hold part of its content; a
    /// replaced database's must never meet the new one.
    static let sidecars = ["-wal", "-journal"]

    /// The rename path, once a commit chose it: the live file was missing, or too
    /// damaged for SQLite to read (then it is kept byte for byte, as `.raw`).
    private func fileSwap(_ restoreID: String) -> FileSwap? {
        let swap = FileSwap(target: path, restoreID: restoreID, kept: side.rawCopy(restoreID))
        return swap.hasKeptCopy ? swap : nil
    }

    /// Written once an undo through the backup API finished: the live database holds its previous content again.
    private func undoneMarker(_ restoreID: String) -> String { side.preRestore(restoreID) + ".undone" }

    /// Keeps the current content aside (once), then copies the staged database
    /// into the live one through the backup API: one write transaction, so the
    /// application's open connections see the new content and never a mix.
    /// A live file that is missing, or too damaged for SQLite to read, is
    /// replaced by renaming the staged file into place instead (a damaged one is
    /// first kept byte for byte, its WAL too).
    public func commit(restoreID: String) throws {
        if let swap = fileSwap(restoreID) { return try commitByRename(swap) }
        let staging = side.staging(restoreID)
        let preRestore = side.preRestore(restoreID)
        guard FileSystem.exists(staging) else {
            if FileSystem.exists(preRestore) { return }  // committed before a crash
            throw SourceError(name, "the staged copy \(staging) is gone; the restore cannot be committed")
        }
        var keptNow = false
        do {
            if !FileSystem.exists(preRestore) {
                guard FileSystem.exists(path) else {
                    return try commitByRename(FileSwap(target: path, restoreID: restoreID, kept: side.rawCopy(restoreID)))
                }
                do {
                    try copyDatabase(from: path, to: preRestore)
                    keptNow = true
                } catch let error as SQLiteError where error.isCorruption {
                    return try commitByRename(FileSwap(target: path, restoreID: restoreID, kept: side.rawCopy(restoreID)))
                }
            }
            let source = try SQLiteDatabase(path: staging, readOnly: true)
            let live = try SQLiteDatabase(path: path)
            live.setBusyTimeout(milliseconds: busyTimeoutMilliseconds)
            try source.backup(into: live)
        } catch let error as SQLiteError {
            // The backup is one SQLite transaction: an error means it did not
            // happen, so the live file still holds what the copy just made holds.
            if keptNow { try? FileSystem.removeFile(preRestore) }
            if error.isBusy {
                throw SourceError(name, "\(path) is locked by another writer (waited \(busyTimeoutMilliseconds) ms); stop the application or use a pre_restore hook")
            }
            throw SourceError(name, "cannot commit into \(path): \(error)")
        }
        try FileSystem.removeFile(staging)
    }

    /// The rename path: the sidecar files are kept first (hard links), the staged
    /// file renamed into place, and only then, the commit certain, the old
    /// sidecars removed from beside the new database.
    private func commitByRename(_ swap: FileSwap) throws {
        for suffix in Self.sidecars where FileSystem.exists(path + suffix) && !FileSystem.exists(swap.kept + suffix) {
            try FileSystem.link(path + suffix, as: swap.kept + suffix)
        }
        try swap.commit(name: name)
        for suffix in Self.sidecars where FileSystem.exists(swap.kept + suffix) && FileSystem.sameFile(path + suffix, swap.kept + suffix) {
            try FileSystem.removeFile(path + suffix)
        }
        try FileSystem.removeFile(path + "-shm")
    }

    public func undo(restoreID: String) throws {
        if let swap = fileSwap(restoreID) {
            try swap.undo()
            // The restored database's sidecars go; the kept ones come back.
            for suffix in Self.sidecars {
                let kept = swap.kept + suffix
                if FileSystem.exists(path + suffix) && !(FileSystem.exists(kept) && FileSystem.sameFile(path + suffix, kept)) {
                    try FileSystem.removeFile(path + suffix)
                }
                if FileSystem.exists(kept) && !FileSystem.exists(path + suffix) { try FileSystem.link(kept, as: path + suffix) }
            }
            try FileSystem.removeFile(path + "-shm")
            return
        }
        let preRestore = side.preRestore(restoreID)
        guard FileSystem.exists(preRestore) else { return }  // nothing was committed
        do {
            let kept = try SQLiteDatabase(path: preRestore, readOnly: true)
            let live = try SQLiteDatabase(path: path, create: true)
            live.setBusyTimeout(milliseconds: busyTimeoutMilliseconds)
            try kept.backup(into: live)
        } catch let error as SQLiteError {
            throw SourceError(name, "cannot put the pre-restore content back into \(path): \(error); it is kept in \(preRestore)")
        }
        try FileSystem.writeFile(undoneMarker(restoreID), bytes: [], permissions: 0o600)
    }

    /// From the files: a kept copy made and the staged one consumed means the
    /// backup into the live database finished; both there, it may or may not have.
    public func content(restoreID: String) throws -> TargetContent {
        if let swap = fileSwap(restoreID) { return try swap.content(name: name) }
        if FileSystem.exists(undoneMarker(restoreID)) || !FileSystem.exists(side.preRestore(restoreID)) { return .previous }
        return FileSystem.exists(side.staging(restoreID)) ? .unsettled : .bundle
    }

    /// Also the partial pre-restore copy a crash may have left (it holds the old data).
    public func discardStage(restoreID: String) {
        try? FileSystem.removeFile(side.staging(restoreID))
        try? FileSystem.removeFile(side.preRestore(restoreID) + ".partial")
    }

    public func finalize(restoreID: String) throws {
        let raw = side.rawCopy(restoreID)
        for file in [side.preRestore(restoreID), side.preRestore(restoreID) + ".partial", undoneMarker(restoreID)] + Self.sidecars.map({ raw + $0 }) {
            try FileSystem.removeFile(file)
        }
        try FileSwap(target: path, restoreID: restoreID, kept: raw).finalize()
    }

    public func hasPreRestoreCopy(restoreID: String) -> Bool {
        FileSystem.exists(side.preRestore(restoreID)) || fileSwap(restoreID) != nil
    }

    /// A consistent copy through the backup API, published atomically (mode 0600).
    private func copyDatabase(from source: String, to destination: String) throws {
        let temporary = destination + ".partial"
        try? FileSystem.removeFile(temporary)
        var published = false
        defer { if !published { try? FileSystem.removeFile(temporary) } }
        do {
            let from = try SQLiteDatabase(path: source, readOnly: true)
            from.setBusyTimeout(milliseconds: busyTimeoutMilliseconds)
            let to = try SQLiteDatabase(path: temporary, create: true)
            try FileSystem.setPermissions(temporary, 0o600)
            try from.backup(into: to)
            try to.execute("PRAGMA journal_mode = DELETE")
        }
        var file = try FileDescriptor(opening: temporary, .readOnly)
        try file.sync()
        try file.close()
        try FileSystem.rename(temporary, to: destination)
        published = true
        try FileSystem.syncDirectory(FileSystem.directoryName(of: destination))
    }
}

/// A source or target that cannot do what was asked; the message names it.
public struct SourceError: Error, CustomStringConvertible, Sendable {
    public let source: String
    public let message: String

    public init(_ source: String, _ message: String) {
        self.source = source
        self.message = message
    }

    public var description: String { "\(source): \(message)" }
}
