#if canImport(Glibc)
import Glibc
#endif
import CofferFormat
import CofferSystem
import Foundation

/// Restore into a running server through a staging database: the dump is
/// restored into `DB__coffer_ID` with `pg_restore -j`, its rows counted, and the
/// commit renames the target to `DB__pre_ID` and the staging database to the
/// target in one transaction, after ending the target's other sessions. The
/// old database stays as `DB__pre_ID` until finalize (dropped) or rollback
/// (renamed back). The server's catalog is the record of where a restore
/// stands, so each step can be run again after a crash.
struct PostgresRestore {
    let name: String
    /// The server, connected to the target database's name (which need not exist).
    let address: PostgresAddress
    let restoreID: String

    var target: String { address.database }
    var staging: String { Self.derived(target, "coffer", restoreID) }
    var kept: String { Self.derived(target, "pre", restoreID) }
    /// The comment that marks a database this restore created where none was.
    var createdMark: String { "coffer restore \(restoreID): created, nothing was here before" }

    /// `DB__TAG_ID`, lowercase, shortened to PostgreSQL's 63-byte names.
    static func derived(_ database: String, _ tag: String, _ restoreID: String) -> String {
        let suffix = "__\(tag)_" + restoreID.lowercased().replacingOccurrences(of: "-", with: "_")
        var base = database
        while base.utf8.count + suffix.utf8.count > 63 { base.removeLast() }
        return base + suffix
    }

    /// A connection to the server's maintenance database (the target may not exist).
    func maintenance() throws -> PostgresConnection {
        do {
            return try PostgresConnection(address.with(database: "postgres"))
        } catch let error as PostgresError where error.message.contains("does not exist") {
            return try PostgresConnection(address.with(database: "template1"))
        }
    }

    func exists(_ database: String, on connection: PostgresConnection) throws -> Bool {
        try connection.value("SELECT 1 FROM pg_database WHERE datname = $1", [database]) != nil
    }

    // MARK: Stage

    /// Creates the staging database and restores the dump into it; returns its row counts.
    func stage(entry: ArtifactEntry, plaintext: (ByteSink) throws -> Void) throws -> [String: JSONValue] {
        let connection = try maintenance()
        guard try connection.value("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user") == "t" else {
            throw PostgresError(
                "the role \(address.user ?? "of the connection") cannot create databases, and restore builds \(staging) beside \(target) first; grant it CREATEDB (ALTER ROLE ... CREATEDB), or restore in place inside one transaction with --in-place (no copy is kept for rollback)")
        }
        let encoding = entry.source["encoding"]?.stringValue ?? "UTF8"
        try connection.query("CREATE DATABASE \(quoted(staging)) TEMPLATE template0 ENCODING \(literal(encoding))")
        try connection.query("COMMENT ON DATABASE \(quoted(staging)) IS \(literal("coffer restore \(restoreID): staging for \(target)"))")
        let folder = try privateFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let dump = FileSystem.join(folder, "\(name).pgdump")
        do {
            try writeNewFile(dump, durable: false, plaintext)
        } catch let error as SystemError {
            throw PostgresError("cannot write the dump for pg_restore to \(folder): \(error.message); set TMPDIR to a folder with room")
        }
        let restore = try PostgresTools.program("pg_restore", forServer: connection.serverVersion / 10000)
        let jobs = max(1, min(8, ProcessInfo.processInfo.activeProcessorCount))
        try PostgresTools.run(
            restore, ["--exit-on-error", "--jobs=\(jobs)", "--no-password", "--dbname=\(staging)", dump],
            environment: address.with(database: staging).environment, scratch: folder
        ) { _ in }
        try? FileSystem.removeFile(dump)
        let stagedConnection = try PostgresConnection(address.with(database: staging))
        return ["tables": .object(try PostgresSource.rowCounts(stagedConnection).mapValues { .int($0) })]
    }

    /// A 0700 folder for the dump file that parallel pg_restore needs (`$TMPDIR`, else /tmp).
    private func privateFolder() throws -> String {
        let parent = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        let folder = FileSystem.join(parent, "coffer-restore-\(restoreID)-\(getpid())")
        // mkdir, not "create if missing": a folder someone else made there must not be used.
        // In the ledger first: a killed restore must not leave a decrypted dump in /tmp.
        try TemporaryLedger.record(folder)
        guard mkdir(folder, 0o700) == 0 else {
            throw PostgresError("cannot create a private folder in \(parent): \(SystemError("mkdir", path: folder, code: errno).message)")
        }
        return folder
    }

    func discard() throws {
        let connection = try maintenance()
        if try exists(staging, on: connection) { try connection.query("DROP DATABASE \(quoted(staging)) WITH (FORCE)") }
    }

    // MARK: Commit, undo, finalize

    /// Ends the target's other sessions, then renames target → kept and staging → target in one transaction.
    func commit() throws {
        let connection = try maintenance()
        guard try exists(staging, on: connection) else {
            if try hasPreRestoreCopy(connection) { return }  // committed before a crash
            throw PostgresError("the staging database \(staging) is gone; the restore cannot be committed")
        }
        let targetExists = try exists(target, on: connection)
        if !targetExists { try connection.query("COMMENT ON DATABASE \(quoted(staging)) IS \(literal(createdMark))") }
        try swap(connection, renames: targetExists ? [(target, kept), (staging, target)] : [(staging, target)], sessionsOf: targetExists ? target : nil)
    }

    /// Puts the kept database back (the restored one goes to the staging name, dropped by finalize).
    func undo() throws {
        let connection = try maintenance()
        if try exists(kept, on: connection) {
            try swap(connection, renames: [(target, staging), (kept, target)], sessionsOf: target)
        } else if try createdHere(connection) {
            try swap(connection, renames: [(target, staging)], sessionsOf: target)
        }
    }

    /// Drops the kept database (after a commit) and the restored one (after an undo).
    func finalize() throws {
        let connection = try maintenance()
        for database in [kept, staging] where try exists(database, on: connection) {
            try connection.query("DROP DATABASE \(quoted(database)) WITH (FORCE)")
        }
        if try createdHere(connection) { try connection.query("COMMENT ON DATABASE \(quoted(target)) IS NULL") }
    }

    /// Read from the server's catalog: the rename moves the names in one
    /// transaction, so the names say whether it committed, whatever became of the answer.
    func content() throws -> TargetContent {
        let connection = try maintenance()
        let staged = try exists(staging, on: connection)
        let keptThere = try exists(kept, on: connection)
        if staged && !keptThere { return .previous }
        if keptThere && !staged { return .bundle }
        if try !staged && !keptThere && createdHere(connection) { return .bundle }
        let found = staged ? "both \(staging) and \(kept)" : "neither \(staging) nor \(kept)"
        throw PostgresError("the server holds \(found), so which content \(target) holds cannot be told; look with psql's \\l")
    }

    func hasPreRestoreCopy(_ connection: PostgresConnection? = nil) throws -> Bool {
        let connection = try connection ?? maintenance()
        return try exists(kept, on: connection) || createdHere(connection)
    }

    private func createdHere(_ connection: PostgresConnection) throws -> Bool {
        try connection.value("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", [target]) == createdMark
    }

    /// Renames in one transaction after ending `sessionsOf`'s other sessions; a
    /// session that comes back (or cannot be ended) fails the rename, which
    /// leaves every database as it was, so it is tried once more (the server
    /// itself waits up to 5 s for sessions to go before it fails a rename).
    private func swap(_ connection: PostgresConnection, renames: [(String, String)], sessionsOf database: String?) throws {
        var lastError: PostgresError?
        for attempt in 0..<2 {
            if let database {
                try connection.query(
                    """
                    SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid
                    WHERE a.datname = $1 AND a.pid <> pg_backend_pid()
                      AND (NOT coalesce(r.rolsuper, false) OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))
                      AND (pg_has_role(a.usesysid, 'USAGE') OR pg_has_role('pg_signal_backend', 'USAGE'))
                    """, [database])
            }
            do {
                try connection.query("BEGIN")
                for (from, to) in renames { try connection.query("ALTER DATABASE \(quoted(from)) RENAME TO \(quoted(to))") }
                try connection.query("COMMIT")
                return
            } catch let error as PostgresError {
                _ = try? connection.query("ROLLBACK")
                lastError = error
                guard error.sqlState == "55006" else { throw error }  // object_in_use: sessions came back
                usleep(useconds_t(200_000 * (attempt + 1)))
            }
        }
        let sessions = database.flatMap { try? connection.value("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [$0]) } ?? "?"
        throw PostgresError(
            "\(database ?? target) still has \(sessions) other session(s) that could not be ended (\(lastError?.message ?? "in use")); stop the application (a pre_restore hook) or end them, then restore again. Nothing was changed")
    }
}

/// An identifier in double quotes.
func quoted(_ identifier: String) -> String { "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

/// A string literal in single quotes.
func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
