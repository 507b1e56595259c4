import CofferFormat
import CofferSystem

/// A PostgreSQL database. Snapshot: `pg_dump -Fc -Z0` of a snapshot exported
/// by a repeatable-read transaction that also counts every table's rows, so the
/// counts in the manifest are those of the dump even while the application
/// writes. Verify: `pg_restore --list` reads the dump's table of contents.
public struct PostgresSource: SnapshotSource, RestoreTarget {
    public let name: String
    /// The environment variable holding the connection string (it holds the password, so it is never in the config).
    public let urlEnv: String
    let url: String?
    /// Restore into this database instead of the one the connection string names (`--to NAME=DB`).
    public var database: String?
    /// Restore inside one transaction into the target itself (`--in-place`), for a role without CREATEDB.
    public var inPlace = false

    public var kind: ArtifactKind { .postgres }
    public var fileExtension: String { "pgdump" }
    /// gzip -1 keeps up with pg_dump on two cores; on typical dumps (text, jsonb,
    /// padded columns) it is within about 5% of `pg_dump | gzip -6` in size.
    public var compressionLevel: Int32 { 1 }

    public init(name: String, urlEnv: String, environment: [String: String], database: String? = nil) {
        self.name = name
        self.urlEnv = urlEnv
        self.url = environment[urlEnv].flatMap { $0.isEmpty ? nil : $0 }
        self.database = database
    }

    /// The server and database of the connection string.
    func address() throws -> PostgresAddress {
        guard let url else {
            throw SourceError(name, "\(urlEnv) is not set; it must hold the connection string, postgresql://user:password@host:port/database")
        }
        do { return try PostgresAddress(url) } catch let error as PostgresError { throw SourceError(name, error.message) }
    }

    /// Where a restore goes: the connection's database, or `database`.
    func restoreAddress() throws -> PostgresAddress {
        let address = try address()
        return database.map { address.with(database: $0) } ?? address
    }

    public var targetDescription: String {
        (try? restoreAddress().description) ?? "(the database in \(urlEnv)\(database.map { ", database \($0)" } ?? ""))"
    }

    // MARK: Snapshot

    public func estimatedSize() -> Int64 {
        guard let connection = try? PostgresConnection(try address()),
            let size = try? connection.value("SELECT pg_database_size(current_database())")
        else { return 0 }
        return Int64(size) ?? 0
    }

    public func snapshot(workDirectory: String, into sink: ByteSink) throws -> SourceFacts {
        do {
            let address = try address()
            let connection = try PostgresConnection(address)
            let dump = try PostgresTools.program("pg_dump", forServer: connection.serverVersion / 10000)
            try connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            guard let snapshotID = try connection.value("SELECT pg_export_snapshot()") else {
                throw PostgresError("the server exported no snapshot")
            }
            let facts = try describe(connection)
            // Compression and encryption run on another thread while pg_dump's output is read.
            try withWriteBehind(sink) { sink in
                try PostgresTools.run(
                    dump, ["--format=custom", "--compress=0", "--snapshot=\(snapshotID)", "--no-password"],
                    environment: address.environment, scratch: workDirectory, output: sink)
            }
            try connection.query("COMMIT")
            return facts
        } catch let error as PostgresError {
            throw SourceError(name, error.message)
        }
    }

    /// Server version, database, encoding, size, and exact row counts per table, inside the snapshot's transaction.
    private func describe(_ connection: PostgresConnection) throws -> SourceFacts {
        let row = try connection.query(
            """
            SELECT current_setting('server_version'), current_database(), pg_encoding_to_char(encoding), pg_database_size(current_database())
            FROM pg_database WHERE datname = current_database()
            """
        ).first ?? []
        func text(_ index: Int) -> JSONValue { row.count > index ? row[index].map { .string($0) } ?? .null : .null }
        return SourceFacts(
            source: [
                "server_version": text(0), "database": text(1), "encoding": text(2),
                "database_bytes": .int(Int64(row.count > 3 ? row[3] ?? "0" : "0") ?? 0), "format": .string("pg_dump custom, uncompressed"),
            ],
            stats: ["tables": .object(try Self.rowCounts(connection).mapValues { .int($0) })])
    }

    /// Exact rows of every ordinary table outside the system schemas, by `schema.table`.
    static func rowCounts(_ connection: PostgresConnection) throws -> [String: Int64] {
        let tables = try connection.query(
            """
            SELECT n.nspname || '.' || c.relname, format('SELECT count(*) FROM %I.%I', n.nspname, c.relname)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
            ORDER BY 1
            """)
        var counts: [String: Int64] = [:]
        for table in tables {
            guard let name = table[0], let count = table[1] else { continue }
            counts[name] = Int64(try connection.value(count) ?? "0") ?? 0
        }
        return counts
    }

    /// Checks a dump with `pg_restore --list` and that it holds the data of
    /// exactly the tables the manifest counted (rows are counted by a test restore, not here).
    public static func check(_ file: String, entry: ArtifactEntry, scratch: String) throws {
        let list: String
        do {
            list = try PostgresTools.capture(try PostgresTools.newest("pg_restore"), ["--list", file], environment: [:], scratch: scratch)
        } catch let error as PostgresError {
            throw SourceError(entry.name, "the dump does not read: \(error.message)")
        }
        // "3365; 1259 16390 TABLE DATA public accounts owner": names may hold spaces, so match the manifest's.
        let data = list.split(separator: "\n").compactMap { line -> Substring? in
            guard !line.hasPrefix(";"), let range = line.range(of: " TABLE DATA ") else { return nil }
            return line[range.upperBound...]
        }
        let expected = (entry.stats["tables"]?.objectValue ?? [:]).keys.sorted()
        let missing = expected.filter { table in
            let prefix = table.replacingOccurrences(of: ".", with: " ", options: [], range: table.range(of: ".")) + " "
            return !data.contains { $0.hasPrefix(prefix) }
        }
        guard missing.isEmpty && data.count == expected.count else {
            throw SourceError(
                entry.name, "the dump holds the data of \(data.count) tables and the manifest counted \(expected.count)\(missing.isEmpty ? "" : "; missing: \(missing.prefix(5).joined(separator: ", "))")")
        }
    }

    // MARK: Restore

    private func restore(_ restoreID: String) throws -> PostgresRestore {
        PostgresRestore(name: name, address: try restoreAddress(), restoreID: restoreID)
    }

    /// Runs a step, turning libpq's and pg_restore's errors into this source's.
    private func step<R>(_ body: () throws -> R) throws -> R {
        do { return try body() } catch let error as PostgresError { throw SourceError(name, error.message) }
    }

    private func inPlaceRestore(_ restoreID: String) throws -> PostgresInPlaceRestore {
        PostgresInPlaceRestore(name: name, address: try restoreAddress(), restoreID: restoreID)
    }

    public func stage(restoreID: String, entry: ArtifactEntry, plaintext: (ByteSink) throws -> Void) throws -> StageReport {
        if inPlace { return try step { try inPlaceRestore(restoreID).stage(entry: entry, plaintext: plaintext) } }
        return try step { StageReport(stats: try restore(restoreID).stage(entry: entry, plaintext: plaintext)) }
    }

    public func commit(restoreID: String) throws {
        if inPlace { return try step { try inPlaceRestore(restoreID).commit() } }
        try step { try restore(restoreID).commit() }
    }

    public func undo(restoreID: String) throws {
        if inPlace { throw SourceError(name, "it was restored in place (--in-place), so there is no earlier copy to put back; restore an older bundle instead") }
        try step { try restore(restoreID).undo() }
    }

    public func discardStage(restoreID: String) {
        if inPlace { return (try? inPlaceRestore(restoreID))?.discard() ?? () }
        try? restore(restoreID).discard()
    }

    public func finalize(restoreID: String) throws {
        if inPlace { return try inPlaceRestore(restoreID).discard() }
        try step { try restore(restoreID).finalize() }
    }

    public var canUndo: Bool { !inPlace }

    public func content(restoreID: String) throws -> TargetContent {
        if inPlace { return try step { try inPlaceRestore(restoreID).content() } }
        return try step { try restore(restoreID).content() }
    }

    public func hasPreRestoreCopy(restoreID: String) throws -> Bool {
        if inPlace { return false }
        return try step { try restore(restoreID).hasPreRestoreCopy() }
    }
}
