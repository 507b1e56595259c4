/// What `INFO` and `CONFIG GET` tell about a server, read the way every Redis
/// since 2.6 answers them.
extension RedisConnection {
    /// One `INFO` section as `field: value`.
    public func info(_ section: String) throws -> [String: String] {
        guard let text = try command("INFO", section).text else { return [:] }
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        return fields
    }

    /// Keys per non-empty database, from `INFO keyspace` (`db0:keys=12,expires=...`).
    public func keyspace() throws -> [Int: Int] {
        var counts: [Int: Int] = [:]
        for (field, value) in try info("keyspace") where field.hasPrefix("db") {
            guard let db = Int(field.dropFirst(2)),
                let keys = value.split(separator: ",").first(where: { $0.hasPrefix("keys=") }).flatMap({ Int($0.dropFirst(5)) })
            else { continue }
            if keys > 0 { counts[db] = keys }
        }
        return counts
    }

    /// How many databases the server has (`CONFIG GET databases`; 16, the default,
    /// where CONFIG is not allowed).
    public func databaseCount() -> Int {
        guard case .array(let items)? = try? command("CONFIG", "GET", "databases"), items.count == 2,
            let count = items[1].text.flatMap({ Int($0) })
        else { return 16 }
        return count
    }

    public func select(_ db: Int) throws {
        try command("SELECT", String(db))
    }
}

/// The RDB version a Redis release writes, for a server that sent no `DUMP`
/// payload to read it from (an empty logical snapshot).
func rdbVersion(forRedis version: String) -> Int {
    let parts = version.split(separator: ".").compactMap { Int($0) }
    let major = parts.first ?? 0
    let minor = parts.count > 1 ? parts[1] : 0
    switch (major, minor) {
    case (7, 4...), (8..., _): return 12
    case (7, 2...): return 11
    case (7, _): return 10
    case (5...6, _): return 9
    case (4, _): return 8
    default: return 7
    }
}
