/// A server on which restore drills create scratch databases: the configured
/// server, or a separate drill server. A scratch database gets a name no one
/// uses (`coffer_drill_...`), is restored into like any target, and is dropped
/// with everything a restore derived from its name.
public struct PostgresScratchServer: CustomStringConvertible {
    let address: PostgresAddress

    public init(url: String) throws {
        address = try PostgresAddress(url)
    }

    public var description: String { address.with(database: "").description }

    private func maintenance() throws -> PostgresConnection {
        try PostgresRestore(name: "drill", address: address, restoreID: "-").maintenance()
    }

    /// Whether the connection's role may create databases (a drill needs to).
    public func canCreateDatabases() throws -> Bool {
        try maintenance().value("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user") == "t"
    }

    /// The URL of `database` on this server, with the password (for a child's environment only).
    public func url(database: String) -> String { address.with(database: database).connectionURL }

    /// Drops `database` and the staging and kept databases a restore made beside it; true when one was there.
    @discardableResult
    public func drop(_ database: String) throws -> Bool {
        let connection = try maintenance()
        let pattern = database.replacingOccurrences(of: "_", with: "\\_")
        let names = try connection.query(
            "SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2 OR datname LIKE $3",
            [database, pattern + "\\_\\_coffer\\_%", pattern + "\\_\\_pre\\_%"]
        ).compactMap { $0.first ?? nil }
        for name in names { try connection.query("DROP DATABASE IF EXISTS \(quoted(name)) WITH (FORCE)") }
        return !names.isEmpty
    }

    /// Whether `database` exists on the server.
    public func exists(_ database: String) throws -> Bool {
        try maintenance().value("SELECT 1 FROM pg_database WHERE datname = $1", [database]) != nil
    }
}
