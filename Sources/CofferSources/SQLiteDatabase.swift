import CSQLite

/// A SQLite failure with SQLite's own message. Never contains row data.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let operation: String
    public let message: String

    /// True when another connection holds the lock we needed.
    public var isBusy: Bool { code & 0xff == SQLITE_BUSY || code & 0xff == SQLITE_LOCKED }

    /// True when the file is not a database or is damaged.
    public var isCorruption: Bool { code & 0xff == SQLITE_NOTADB || code & 0xff == SQLITE_CORRUPT }

    public var description: String { "\(operation): \(message)" }
}

/// One SQLite connection; closed in `deinit`. The only code that sees a `sqlite3*`.
public final class SQLiteDatabase {
    private let handle: OpaquePointer
    /// The database file.
    public let path: String

    /// Opens `path`; `create` makes a new file if none exists.
    public init(path: String, readOnly: Bool = false, create: Bool = false) throws {
        var flags = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE
        if create && !readOnly { flags |= SQLITE_OPEN_CREATE }
        var opened: OpaquePointer?
        let status = sqlite3_open_v2(path, &opened, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard status == SQLITE_OK, let opened else {
            let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(status))
            sqlite3_close_v2(opened)
            throw SQLiteError(code: status, operation: "open \(path)", message: message)
        }
        handle = opened
        self.path = path
        sqlite3_extended_result_codes(handle, 1)
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    /// The SQLite library version.
    public static var libraryVersion: String { String(cString: sqlite3_libversion()) }

    /// How long to wait for another connection's lock before failing with "busy".
    public func setBusyTimeout(milliseconds: Int32) {
        sqlite3_busy_timeout(handle, milliseconds)
    }

    /// Runs statements that return no rows.
    public func execute(_ sql: String) throws {
        let status = sqlite3_exec(handle, sql, nil, nil, nil)
        if status != SQLITE_OK { throw error(status, "execute") }
    }

    /// Runs a query and returns every row as text (NULL as nil).
    public func rows(_ sql: String) throws -> [[String?]] {
        var statement: OpaquePointer?
        let prepared = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard prepared == SQLITE_OK, let statement else { throw error(prepared, "prepare") }
        defer { sqlite3_finalize(statement) }
        var result: [[String?]] = []
        while true {
            let step = sqlite3_step(statement)
            if step == SQLITE_DONE { break }
            guard step == SQLITE_ROW else { throw error(step, "query") }
            let columns = sqlite3_column_count(statement)
            result.append((0..<columns).map { column in
                sqlite3_column_text(statement, column).map { String(cString: $0) }
            })
        }
        return result
    }

    /// The first column of the first row as an integer.
    public func integer(_ sql: String) throws -> Int64 {
        guard let text = try rows(sql).first?.first ?? nil, let value = Int64(text) else {
            throw SQLiteError(code: SQLITE_MISMATCH, operation: "query", message: "expected an integer result")
        }
        return value
    }

    /// `PRAGMA integrity_check`: "ok", or SQLite's first complaints.
    public func integrityCheck() throws -> String {
        try rows("PRAGMA integrity_check").compactMap { $0.first ?? nil }.prefix(5).joined(separator: "; ")
    }

    /// Exact row counts of every user table.
    public func rowCounts() throws -> [String: Int64] {
        let tables = try rows("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        var counts: [String: Int64] = [:]
        for case let name? in tables.map({ $0.first ?? nil }) {
            counts[name] = try integer("SELECT count(*) FROM \"\(name.replacingOccurrences(of: "\"", with: "\"\""))\"")
        }
        return counts
    }

    /// Copies this whole database into `destination` with SQLite's online backup
    /// API, in one pass and one write transaction on the destination: readers of
    /// this database see a consistent snapshot (WAL included), and connections
    /// that have `destination` open see the new content at once.
    public func backup(into destination: SQLiteDatabase) throws {
        guard let backup = sqlite3_backup_init(destination.handle, "main", handle, "main") else {
            throw destination.error(sqlite3_errcode(destination.handle), "backup into \(destination.path)")
        }
        let step = sqlite3_backup_step(backup, -1)
        let finish = sqlite3_backup_finish(backup)
        if step != SQLITE_DONE { throw destination.error(step, "backup into \(destination.path)") }
        if finish != SQLITE_OK { throw destination.error(finish, "backup into \(destination.path)") }
    }

    private func error(_ status: Int32, _ operation: String) -> SQLiteError {
        let message = String(cString: sqlite3_errmsg(handle))
        return SQLiteError(code: status, operation: operation, message: message.isEmpty ? String(cString: sqlite3_errstr(status)) : message)
    }
}
