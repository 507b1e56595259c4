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

    /// Keeps the current content aside (once), then copies the staged database
    /// into the live one through the backup API: one write transaction, so the
    /// application's open connections see the new content and never a mix.
    /// A live file that is missing, or too damaged for SQLite to read, is
    /// replaced by renaming the staged file into place instead (a damaged one is
    /// first copied aside byte for byte).
    public func commit(restoreID: String) throws {
        let staging = side.staging(restoreID)
        guard FileSystem.exists(staging) else {
            if hasPreRestoreCopy(restoreID: restoreID) { return }  // committed before a crash
            throw SourceError(name, "the staged copy \(staging) is gone; the restore cannot be committed")
        }
        do {
            if !hasPreRestoreCopy(restoreID: restoreID) {
                if !FileSystem.exists(path) {
                    try FileSystem.writeFile(side.absentMarker(restoreID), bytes: [], permissions: 0o600)
                } else {
                    do {
                        try copyDatabase(from: path, to: side.preRestore(restoreID))
                    } catch let error as SQLiteError where error.isCorruption {
                        try copyRaw(restoreID: restoreID)
                    }
                }
            }
            if FileSystem.exists(side.absentMarker(restoreID)) || FileSystem.exists(side.rawCopy(restoreID)) {
                try removeSidecarFiles()
                try FileSystem.rename(staging, to: path)
                try FileSystem.syncDirectory(FileSystem.directoryName(of: path))
                return
            }
            let source = try SQLiteDatabase(path: staging, readOnly: true)
            let live = try SQLiteDatabase(path: path)
            live.setBusyTimeout(milliseconds: busyTimeoutMilliseconds)
            try source.backup(into: live)
        } catch let error as SQLiteError {
            if error.isBusy {
                throw SourceError(name, "\(path) is locked by another writer (waited \(busyTimeoutMilliseconds) ms); stop the application or use a pre_restore hook")
            }
            throw SourceError(name, "cannot commit into \(path): \(error)")
        }
        try? FileSystem.removeFile(staging)
    }

    /// Copies an unreadable live database (and its WAL) aside byte for byte, durably.
    private func copyRaw(restoreID: String) throws {
        let raw = side.rawCopy(restoreID)
        for suffix in ["", "-wal"] where FileSystem.exists(path + suffix) {
            try FileSystem.writeFile(raw + suffix, bytes: try FileSystem.readFile(path + suffix, limit: 1 << 40), permissions: 0o600)
        }
    }

    public func undo(restoreID: String) throws {
        let preRestore = side.preRestore(restoreID)
        let raw = side.rawCopy(restoreID)
        if FileSystem.exists(preRestore) {
            do {
                let kept = try SQLiteDatabase(path: preRestore, readOnly: true)
                let live = try SQLiteDatabase(path: path, create: true)
                live.setBusyTimeout(milliseconds: busyTimeoutMilliseconds)
                try kept.backup(into: live)
            } catch let error as SQLiteError {
                throw SourceError(name, "cannot put the pre-restore content back into \(path): \(error); it is kept in \(preRestore)")
            }
        } else if FileSystem.exists(raw) {
            try removeSidecarFiles()
            for suffix in ["", "-wal"] where FileSystem.exists(raw + suffix) {
                try FileSystem.writeFile(path + suffix, bytes: try FileSystem.readFile(raw + suffix, limit: 1 << 40), permissions: 0o600)
            }
        } else if FileSystem.exists(side.absentMarker(restoreID)) {
            try FileSystem.removeFile(path)
            try removeSidecarFiles()
        }
    }

    /// The live database's WAL, shared-memory and journal files, which must not
    /// outlive a database file replaced by rename.
    private func removeSidecarFiles() throws {
        for suffix in ["-wal", "-shm", "-journal"] { try FileSystem.removeFile(path + suffix) }
    }

    public func discardStage(restoreID: String) {
        try? FileSystem.removeFile(side.staging(restoreID))
    }

    public func finalize(restoreID: String) throws {
        for file in [side.preRestore(restoreID), side.absentMarker(restoreID), side.rawCopy(restoreID), side.rawCopy(restoreID) + "-wal"] {
            try FileSystem.removeFile(file)
        }
    }

    public func hasPreRestoreCopy(restoreID: String) -> Bool {
        [side.preRestore(restoreID), side.absentMarker(restoreID), side.rawCopy(restoreID)].contains(where: FileSystem.exists)
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
