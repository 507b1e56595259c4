#if canImport(Glibc)
import Glibc
#endif
import CPq
import Foundation

/// A PostgreSQL connection string (`postgresql://user:password@host:port/db?...`
/// or `key=value` pairs), split by libpq itself into its parameters. The
/// password stays inside: `description` leaves it out, and `environment` is how
/// child programs (pg_dump, pg_restore) get it, never their argv.
public struct PostgresAddress: Sendable, CustomStringConvertible {
    /// libpq keyword → value, for every parameter the string sets.
    private let parameters: [String: String]
    /// libpq keyword → the environment variable that sets it (`password` → `PGPASSWORD`).
    private let variables: [String: String]

    public init(_ connectionString: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(connectionString, &error) else {
            let message = error.map { String(cString: $0) } ?? "cannot be parsed"
            if let error { PQfreemem(error) }
            // libpq's message quotes the offending part, which may be the password: every quoted part goes.
            throw PostgresError("the PostgreSQL connection string is not valid: \(Self.unquoted(message.trimmingWhitespaceAndNewlines())) (the value is not shown)")
        }
        defer { PQconninfoFree(options) }
        var parameters: [String: String] = [:]
        var variables: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            let name = String(cString: keyword)
            if let value = option.pointee.val { parameters[name] = String(cString: value) }
            if let variable = option.pointee.envvar { variables[name] = String(cString: variable) }
            option += 1
        }
        self.parameters = parameters
        self.variables = variables
    }

    /// libpq's message with each `"..."` (a piece of the input) replaced by `"…"`.
    static func unquoted(_ message: String) -> String {
        var result = ""
        var inside = false
        for character in message {
            if character == "\"" {
                result += inside ? "…\"" : "\""
                inside.toggle()
            } else if !inside {
                result.append(character)
            }
        }
        return result
    }

    private init(parameters: [String: String], variables: [String: String]) {
        self.parameters = parameters
        self.variables = variables
    }

    /// The database the string names (libpq's default: the user name).
    public var database: String { parameters["dbname"] ?? parameters["user"] ?? "postgres" }

    public var user: String? { parameters["user"] }

    /// The same server, another database (for staging and test restores).
    public func with(database: String) -> PostgresAddress {
        var changed = parameters
        changed["dbname"] = database
        return PostgresAddress(parameters: changed, variables: variables)
    }

    /// `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, ... for a child program.
    public var environment: [String: String] {
        var environment: [String: String] = [:]
        for (keyword, value) in parameters { if let variable = variables[keyword] { environment[variable] = value } }
        return environment
    }

    /// Every parameter as a `postgresql:///DB?host=...&password=...` URL, which
    /// libpq and most drivers read. It holds the password: only for a child
    /// program's environment (a drill's smoke command), never for output.
    public var connectionURL: String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        func encoded(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text }
        let query = parameters.filter { $0.key != "dbname" }.sorted { $0.key < $1.key }.map { "\(encoded($0.key))=\(encoded($0.value))" }
        return "postgresql:///\(encoded(database))" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    /// Keyword/value pairs for `PQconnectdbParams`.
    fileprivate var keywordsAndValues: [(String, String)] { parameters.sorted { $0.key < $1.key } }

    public var description: String {
        let host = parameters["host"] ?? parameters["hostaddr"] ?? "localhost"
        let port = parameters["port"].map { ":\($0)" } ?? ""
        let user = parameters["user"].map { "\($0)@" } ?? ""
        return "postgresql://\(user)\(host)\(port)/\(database)"
    }
}

/// A failure talking to PostgreSQL, with libpq's or the server's message; never a password.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    public let message: String
    /// The server's SQLSTATE, when it sent one (`3D000`: no such database).
    public let sqlState: String?
    init(_ message: String, sqlState: String? = nil) {
        self.message = message
        self.sqlState = sqlState
    }
    public var description: String { message }
}

/// One connection to a PostgreSQL server: the only place that sees a `PGconn`.
public final class PostgresConnection {
    private let connection: OpaquePointer
    public let address: PostgresAddress

    public init(_ address: PostgresAddress) throws {
        self.address = address
        let pairs = address.keywordsAndValues
        let made: OpaquePointer? = withCStrings(pairs.map(\.0)) { keywords in
            withCStrings(pairs.map(\.1)) { values in PQconnectdbParams(keywords, values, 0) }
        }
        guard let made else { throw PostgresError("cannot allocate a PostgreSQL connection") }
        // From here every property is set: a throw runs deinit, which closes the connection.
        connection = made
        guard PQstatus(connection) == CONNECTION_OK else {
            throw PostgresError("cannot connect to \(address): \(Self.text(PQerrorMessage(connection)))")
        }
    }

    deinit {
        PQfinish(connection)
    }

    /// Runs one statement with text parameters; returns its rows as text (nil for NULL).
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?] = []) throws -> [[String?]] {
        let result: OpaquePointer? = withOptionalCStrings(parameters) { values in
            PQexecParams(connection, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        guard let result else { throw PostgresError("\(address): \(Self.text(PQerrorMessage(connection)))") }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            throw PostgresError(Self.text(PQresultErrorMessage(result)), sqlState: state)
        }
        var rows: [[String?]] = []
        for row in 0..<PQntuples(result) {
            rows.append((0..<PQnfields(result)).map { column in
                PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
            })
        }
        return rows
    }

    /// The first column of the first row.
    public func value(_ sql: String, _ parameters: [String?] = []) throws -> String? {
        try query(sql, parameters).first?.first ?? nil
    }

    /// The server's version as a number (150018 for 15.18).
    public var serverVersion: Int { Int(PQserverVersion(connection)) }

    private static func text(_ pointer: UnsafePointer<CChar>?) -> String {
        (pointer.map { String(cString: $0) } ?? "unknown error").trimmingWhitespaceAndNewlines()
    }
}

/// Lends C strings for `strings`, as the NULL-terminated array libpq takes.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    withOptionalCStrings(strings.map { Optional($0) } + [nil], body)
}

private func withOptionalCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { string in string.flatMap { strdup($0) } }
    defer {
        for copy in copies {
            if let copy { explicit_bzero(copy, strlen(copy)) }  // one of them may be the password
            free(copy)
        }
    }
    let pointers: [UnsafePointer<CChar>?] = copies.map { copy in copy.map { UnsafePointer($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

extension String {
    func trimmingWhitespaceAndNewlines() -> String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
