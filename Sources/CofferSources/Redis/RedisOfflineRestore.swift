import CofferFormat
import CofferSystem

/// Offline restore: the snapshot's RDB written as the `dump.rdb` of a stopped
/// server (`restore_rdb`), which loads it when it starts. Staged beside the
/// file and checked, then renamed into place; the old file is kept as
/// `dump.rdb.pre-restore-ID` until finalize.
struct RedisOfflineRestore: RedisRestoreMethod {
    let file: String
    let source: RedisSource

    func stage(restoreID: String, entry: ArtifactEntry, plaintext: (ByteSink) throws -> Void) throws -> StageReport {
        // A running server writes its own dump.rdb when it shuts down, over the restored one.
        // Any answer means it runs: a refused PING (no +ping) or refused credentials included.
        if source.url != nil {
            var answers = false
            do {
                let connection = try source.connect(timeoutSeconds: 2)
                _ = try? connection.command("PING")
                answers = true
            } catch let error as SourceError {
                answers = !error.message.contains("cannot connect to")
            } catch {}
            if answers {
                throw SourceError(
                    source.name,
                    "the server in \(source.urlEnv) answers, so it is running; stop it before an offline restore into \(file), or it overwrites the file when it shuts down")
            }
        }
        let staging = SideFiles(target: file).staging(restoreID)
        try writeNewFile(staging, plaintext)
        do {
            return StageReport(stats: try RedisSource.inspect(staging, name: source.name))
        } catch {
            try? FileSystem.removeFile(staging)
            throw error
        }
    }

    func swap(_ restoreID: String) -> FileSwap { FileSwap(target: file, restoreID: restoreID) }

    /// Keeps the current file (a hard link), then renames the staged file into place.
    func commit(restoreID: String) throws { try swap(restoreID).commit(name: source.name) }

    func undo(restoreID: String) throws { try swap(restoreID).undo() }

    func content(restoreID: String) throws -> TargetContent { try swap(restoreID).content(name: source.name) }

    func discardStage(restoreID: String) throws { swap(restoreID).discardStage() }

    func finalize(restoreID: String) throws { try swap(restoreID).finalize() }

    func hasPreRestoreCopy(restoreID: String) throws -> Bool { swap(restoreID).hasKeptCopy }
}
