import CofferFormat
import CofferSystem
import Foundation

/// Restore for a role that may not create databases (`--in-place`): the dump
/// becomes one SQL script (`pg_restore --clean --if-exists`) that psql runs in
/// a single transaction into the target, followed by a check of every table's
/// rows that raises an error, and so rolls everything back, on a mismatch. All
/// or nothing, but with no copy kept: it cannot be rolled back afterwards.
struct PostgresInPlaceRestore {
    let name: String
    let address: PostgresAddress
    let restoreID: String

    /// Holds the script between stage and commit, then a mark that the commit happened.
    var folder: String {
        FileSystem.join(ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp", "coffer-in-place-\(restoreID)-\(name)")
    }
    var script: String { FileSystem.join(folder, "restore.sql") }
    var checks: String { FileSystem.join(folder, "checks.sql") }
    var committedMark: String { FileSystem.join(folder, "committed") }

    func stage(entry: ArtifactEntry, plaintext: (ByteSink) throws -> Void) throws -> StageReport {
        guard mkdir(folder, 0o700) == 0 else {
            throw PostgresError("cannot create the private folder \(folder): \(SystemError("mkdir", path: folder, code: errno).message)")
        }
        let dump = FileSystem.join(folder, "dump")
        do {
            try writeNewFile(dump, durable: false, plaintext)
        } catch let error as SystemError {
            throw PostgresError("cannot write the dump to \(folder): \(error.message); set TMPDIR to a folder with room")
        }
        try PostgresSource.check(dump, entry: entry, scratch: folder)
        let connection = try PostgresConnection(address)
        let restore = try PostgresTools.program("pg_restore", forServer: connection.serverVersion / 10000)
        // The script begins by turning lock_timeout off; an application holding a lock
        // must fail the restore after a while instead, so that line is changed on the way.
        var patched = false
        try writeNewFile(script, durable: false) { file in
            try PostgresTools.run(restore, ["--clean", "--if-exists", "--exit-on-error", "--file=-", dump], environment: [:], scratch: folder) { chunk in
                guard !patched, let range = chunk.firstRange(of: Array("SET lock_timeout = 0;".utf8)) else { return try file(chunk) }
                patched = true
                try file(UnsafeRawBufferPointer(rebasing: chunk[..<range.lowerBound]))
                try Array("SET lock_timeout = '5s';".utf8).withUnsafeBytes { try file($0) }
                try file(UnsafeRawBufferPointer(rebasing: chunk[range.upperBound...]))
            }
        }
        try FileSystem.removeFile(dump)
        var sql = "DO $coffer$ BEGIN\n"
        for (table, rows) in (entry.stats["tables"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard case .int(let expected) = rows, let dot = table.firstIndex(of: ".") else { continue }
            let relation = quoted(String(table[..<dot])) + "." + quoted(String(table[table.index(after: dot)...]))
            sql += "IF (SELECT count(*) FROM \(relation)) <> \(expected) THEN RAISE EXCEPTION 'coffer: %', \(literal("\(table) does not hold the \(expected) rows of the manifest")); END IF;\n"
        }
        sql += "END $coffer$;\n"
        try FileSystem.writeFile(checks, bytes: Array(sql.utf8), permissions: 0o600)
        return StageReport(
            stats: entry.stats,
            notes: ["\(name): restored in place (--in-place): the rows are checked inside the restore's transaction; there is no copy to roll back to"])
    }

    /// Runs the script and the checks in one transaction (a lock held by the
    /// application fails it after 5 s, changing nothing).
    func commit() throws {
        if FileSystem.exists(committedMark) { return }
        guard FileSystem.exists(script) else { throw PostgresError("the staged script \(script) is gone; the restore cannot be committed") }
        let connection = try PostgresConnection(address)
        let psql = try PostgresTools.program("psql", forServer: connection.serverVersion / 10000)
        try PostgresTools.run(
            psql, ["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", script, "-f", checks], environment: address.environment, scratch: folder
        ) { _ in }
        try FileSystem.writeFile(committedMark, bytes: [], permissions: 0o600)
        try? FileSystem.removeFile(script)
    }

    func discard() {
        try? FileManager.default.removeItem(atPath: folder)
    }
}
