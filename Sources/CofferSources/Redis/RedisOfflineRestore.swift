import CofferFormat
import CofferSystem

/// Offline restore: the snapshot's RDB written as the `dump.rdb` of a stopped
/// server (`restore_rdb`), which loads it when it starts. Staged beside the
/// file and checked, then renamed into place; the old file is kept as
/// `dump.rdb.pre-restore-ID` until finalize.
struct RedisOfflineRestore: RedisRestoreMethod {
    let file: String
    let source: RedisSource

    var side: SideFiles { SideFiles(target: file) }

    func stage(restoreID: String, entry: ArtifactEntry, plaintext: (ByteSink) throws -> Void) throws -> StageReport {
        // A running server writes its own dump.rdb when it shuts down, over the restored one.
        if source.url != nil, let connection = try? source.connect(timeoutSeconds: 2), (try? connection.command("PING")) != nil {
            throw SourceError(
                source.name,
                "the server in \(source.urlEnv) (\(connection.address)) is running; stop it before an offline restore into \(file), or it overwrites the file when it shuts down")
        }
        let staging = side.staging(restoreID)
        try writeNewFile(staging, plaintext)
        do {
            return StageReport(stats: try RedisSource.inspect(staging, name: source.name))
        } catch {
            try? FileSystem.removeFile(staging)
            throw error
        }
    }

    /// Moves the current file aside (once), then renames the staged file into place.
    func commit(restoreID: String) throws {
        let staging = side.staging(restoreID)
        guard FileSystem.exists(staging) else {
            if try hasPreRestoreCopy(restoreID: restoreID) { return }  // committed before a crash
            throw SourceError(source.name, "the staged file \(staging) is gone; the restore cannot be committed")
        }
        if !(try hasPreRestoreCopy(restoreID: restoreID)) {
            if FileSystem.exists(file) {
                try FileSystem.rename(file, to: side.preRestore(restoreID))
            } else {
                try FileSystem.writeFile(side.absentMarker(restoreID), bytes: [], permissions: 0o600)
            }
        }
        try FileSystem.rename(staging, to: file)
        try FileSystem.syncDirectory(FileSystem.directoryName(of: file))
    }

    func undo(restoreID: String) throws {
        if FileSystem.exists(side.preRestore(restoreID)) {
            try FileSystem.rename(side.preRestore(restoreID), to: file)
        } else if FileSystem.exists(side.absentMarker(restoreID)) {
            try FileSystem.removeFile(file)
            try FileSystem.removeFile(side.absentMarker(restoreID))
        }
        try FileSystem.syncDirectory(FileSystem.directoryName(of: file))
    }

    func discardStage(restoreID: String) throws {
        try FileSystem.removeFile(side.staging(restoreID))
    }

    func finalize(restoreID: String) throws {
        try FileSystem.removeFile(side.preRestore(restoreID))
        try FileSystem.removeFile(side.absentMarker(restoreID))
    }

    func hasPreRestoreCopy(restoreID: String) throws -> Bool {
        FileSystem.exists(side.preRestore(restoreID)) || FileSystem.exists(side.absentMarker(restoreID))
    }
}
