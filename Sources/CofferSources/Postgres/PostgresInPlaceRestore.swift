import CofferFormat
import CofferSystem
import Foundation

/// Restore for a role that may not create databases (`--in-place`): the dump
/// becomes one SQL script (`pg_restore --clean --if-exists`) that psql runs in
/// a single transaction into the target, followed by a check of every table's
/// rows that raises an error, and so rolls everything back, on a mismatch. All
/// or nothing, but with no copy kept: it cannot be undone, so it commits last.
///
/// Staging rehearses the same script in a transaction that is rolled back,
/// and counts the rows it left there: the check is the server's, not the manifest's.
/// The commit's transaction writes its id (`txid_current()`) to a file before
/// its `COMMIT`, so when the answer is lost the server can be asked
/// (`txid_status`) whether it committed.
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
    var rehearsal: String { FileSystem.join(folder, "rehearsal.sql") }
    var transactionFile: String { FileSystem.join(folder, "transaction-id") }
    var committedMark: String { FileSystem.join(folder, "committed") }
    /// psql's `application_name`, so a commit still running after a crash can be found.
    var applicationName: String { "coffer restore \(restoreID)" }
    static let rowsTag = "coffer-rows"

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
        let tables = (entry.stats["tables"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key })
        var sql = "DO $coffer$ BEGIN\n"
        var counts = ""
        for (table, rows) in tables {
            guard case .int(let expected) = rows, let relation = Self.relation(table) else { continue }
            sql += "IF (SELECT count(*) FROM \(relation)) <> \(expected) THEN RAISE EXCEPTION 'coffer: %', \(literal("\(table) does not hold the \(expected) rows of the manifest")); END IF;\n"
            counts += "SELECT \(literal(Self.rowsTag)), \(literal(table)), count(*) FROM \(relation);\n"
        }
        sql += "END $coffer$;\nSELECT txid_current() \\g \(literal(transactionFile))\n"
        try FileSystem.writeFile(checks, bytes: Array(sql.utf8), permissions: 0o600)
        try FileSystem.writeFile(rehearsal, bytes: Array(counts.utf8), permissions: 0o600)
        return StageReport(
            stats: ["tables": .object(try rehearse().mapValues { .int($0) })],
            notes: ["\(name): restored in place (--in-place): rehearsed in a transaction that was rolled back, then run for real in one transaction; there is no copy to roll back to"])
    }

    /// `"schema"."table"` for a manifest's `schema.table`.
    static func relation(_ table: String) -> String? {
        guard let dot = table.firstIndex(of: ".") else { return nil }
        return quoted(String(table[..<dot])) + "." + quoted(String(table[table.index(after: dot)...]))
    }

    /// Runs the script in a transaction that is rolled back and returns the rows
    /// it left in the manifest's tables.
    private func rehearse() throws -> [String: Int64] {
        let connection = try PostgresConnection(address)
        let psql = try PostgresTools.program("psql", forServer: connection.serverVersion / 10000)
        let separator = "\u{1F}"
        var output: [UInt8] = []
        try PostgresTools.run(
            psql, ["-X", "-q", "-A", "-t", "-F", separator, "-v", "ON_ERROR_STOP=1", "-c", "BEGIN", "-f", script, "-f", rehearsal, "-c", "ROLLBACK"],
            environment: environment, scratch: folder
        ) { output += $0 }
        var counts: [String: Int64] = [:]
        for line in String(decoding: output, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: Character(separator), omittingEmptySubsequences: false)
            guard fields.count == 3, fields[0] == Self.rowsTag, let rows = Int64(fields[2]) else { continue }
            counts[String(fields[1])] = rows
        }
        return counts
    }

    private var environment: [String: String] { address.environment.merging(["PGAPPNAME": applicationName]) { $1 } }

    /// Runs the script and the checks in one transaction (a lock held by the
    /// application fails it after 5 s, changing nothing).
    func commit() throws {
        if FileSystem.exists(committedMark) { return }
        guard FileSystem.exists(script) else { throw PostgresError("the staged script \(script) is gone; the restore cannot be committed") }
        let connection = try PostgresConnection(address)
        let psql = try PostgresTools.program("psql", forServer: connection.serverVersion / 10000)
        try? FileSystem.removeFile(transactionFile)
        try PostgresTools.run(
            psql, ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", script, "-f", checks], environment: environment, scratch: folder
        ) { _ in }
        try FileSystem.writeFile(committedMark, bytes: [], permissions: 0o600)
        try? FileSystem.removeFile(script)
    }

    /// Asks the server: a psql of this restore still connected means it is not
    /// over; otherwise the transaction's own status says whether it committed.
    func content() throws -> TargetContent {
        if FileSystem.exists(committedMark) { return .bundle }
        let connection = try PostgresConnection(address)
        if try connection.value("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", [applicationName]) != "0" {
            throw PostgresError("the in-place restore's transaction is still running on the server; wait for it to end, then run `coffer restore --recover`")
        }
        guard let text = try? FileSystem.readFile(transactionFile, limit: 64),
            let id = Int64(String(decoding: text, as: UTF8.self).filter(\.isNumber))
        else { return .previous }  // the transaction never reached its COMMIT
        switch try connection.value("SELECT txid_status($1::bigint)", [String(id)]) {
        case "committed":
            try FileSystem.writeFile(committedMark, bytes: [], permissions: 0o600)
            return .bundle
        case "aborted": return .previous
        case let status:
            throw PostgresError("the server says the in-place restore's transaction \(id) is \(status ?? "unknown (too old)"); cannot tell whether it committed")
        }
    }

    func discard() {
        try? FileManager.default.removeItem(atPath: folder)
    }
}
