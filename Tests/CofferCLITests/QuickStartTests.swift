import Foundation
import Testing

/// The fenced blocks of `language` in docs/OPERATIONS.md between the heading
/// `heading` and the next heading of the same level, in order, as written.
func documentedBlocks(_ language: String, under heading: String) throws -> [String] {
    let text = try String(contentsOfFile: packageRoot + "/docs/OPERATIONS.md", encoding: .utf8)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let level = heading.prefix { $0 == "#" }.count
    let start = try #require(lines.firstIndex(of: heading), "docs/OPERATIONS.md has no heading \(heading)")
    var blocks: [String] = []
    var fence: (language: String, lines: [String])? = nil
    for line in lines[(start + 1)...] {
        if var open = fence {
            if line == "```" {
                if open.language == language { blocks.append(open.lines.joined(separator: "\n")) }
                fence = nil
            } else {
                open.lines.append(line)
                fence = open
            }
        } else if line.hasPrefix("```") {
            fence = (String(line.dropFirst(3)), [])
        } else if line.hasPrefix("#"), line.prefix(while: { $0 == "#" }).count <= level {
            break  // the next section
        }
    }
    return blocks
}

/// `text` with each documented name replaced by the test's (whole words only).
private func renamed(_ text: String, _ names: [String: String]) -> String {
    var result = text
    for (from, to) in names {
        let expression = try! NSRegularExpression(pattern: "\\b\(NSRegularExpression.escapedPattern(for: from))\\b")
        result = expression.stringByReplacingMatches(in: result, range: NSRange(result.startIndex..., in: result), withTemplate: to)
    }
    return result
}

/// A psql session of `role` sleeping in `database` (an application holding it); kill it when done.
private func applicationSession(_ server: PostgresServer, _ database: String, role: String, password: String) throws -> Process {
    let session = Process()
    session.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    session.arguments = ["psql", "-X", "-q", "-d", database, "-c", "SELECT pg_sleep(60)"]
    session.environment = ProcessInfo.processInfo.environment.merging(server.environment) { $1 }.merging(["PGUSER": role, "PGPASSWORD": password]) { $1 }
    session.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try session.run()
    return session
}

private func lastManifest(_ ws: Workspace, _ environment: String) throws -> [String: Any] {
    let bundles = ws.path("backups/bundles/" + environment)
    let id = try #require(try FileManager.default.contentsOfDirectory(atPath: bundles).filter { !$0.hasPrefix(".") }.sorted().last)
    let data = try Data(contentsOf: URL(fileURLWithPath: "\(bundles)/\(id)/manifest.json"))
    let manifest = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    return try #require((manifest["artifacts"] as? [[String: Any]])?.first)
}

@Suite("docs/OPERATIONS.md quick starts, run as written", .serialized)
struct QuickStartTests {
    @Test("the PostgreSQL role: the documented grants snapshot (from the documented cron line), the owner with CREATEDB restores, a member of it restores --in-place")
    func postgresRoles() throws {
        let server = try PostgresServer.require()
        let sql = try documentedBlocks("sql", under: "### A PostgreSQL role for Coffer")
        try #require(sql.count == 6, "expected six sql blocks: snapshot role, grants without pg_read_all_data, CREATEDB, pg_signal_backend, database-level grants, in-place role")
        let crontab = try documentedBlocks("crontab", under: "### Scheduled snapshots: exporting the variables")
        let cronLine = try #require(crontab.first?.split(separator: "\n").first { !$0.hasPrefix("#") }.map(String.init))

        try Workspace.with(keys: false) { ws in
            let suffix = UUID().uuidString.prefix(8).lowercased()
            let app = "qs_app_" + suffix
            let names = ["app": app, "coffer_backup": "coffer_backup_" + suffix, "coffer_restore": "coffer_restore_" + suffix]
            let oldStyle = "coffer_grants_" + suffix
            let reporting = "qs_reporting_" + suffix
            let superuser = { (statement: String) throws in _ = try server.psql(ws, "postgres", statement) }
            defer {
                for database in (try? server.databases(ws, containing: app)) ?? [] {
                    _ = try? server.psql(ws, "postgres", "DROP DATABASE IF EXISTS \"\(database)\" WITH (FORCE)")
                }
                for role in [names["coffer_backup"]!, names["coffer_restore"]!, oldStyle, reporting, app] {
                    _ = try? server.psql(ws, "postgres", "DROP ROLE IF EXISTS \(role)")
                }
            }
            // The application: its owner, its database (CONNECT revoked from PUBLIC), its schema; a reporting user.
            try superuser("CREATE ROLE \(app) LOGIN PASSWORD 'app-pw'")
            try superuser("CREATE DATABASE \(app) OWNER \(app)")
            try superuser("REVOKE CONNECT ON DATABASE \(app) FROM PUBLIC")
            try superuser("GRANT CONNECT ON DATABASE \(app) TO \(app)")
            try server.psql(ws, app, applicationSchema, as: (app, "app-pw"))
            let owner = "postgresql://\(app):app-pw@\(server.host):\(server.port)/\(app)"
            let backupURL = "postgresql://\(names["coffer_backup"]!):change-me@\(server.host):\(server.port)/\(app)"

            try """
                environment = "production"
                repository = "backups"
                keys = "keys"

                [[postgres]]
                name = "main"
                url_env = "DATABASE_URL"

                [env]
                include = ["DATABASE_URL"]
                file = "coffer.env"
                """.write(toFile: ws.config, atomically: true, encoding: .utf8)
            try "DATABASE_URL='\(backupURL)'\n".write(toFile: ws.path("coffer.env"), atomically: true, encoding: .utf8)
            #expect(try ws.coffer("keys", "init").status == 0)

            // The documented cron line, in cron's bare environment: the env file is sourced, or DATABASE_URL is missing.
            var command = cronLine.split(separator: " ", maxSplits: 5).last.map(String.init) ?? ""
            for (path, here) in ["/etc/coffer/coffer.env": ws.path("coffer.env"), "/usr/local/bin/coffer": cofferBinary, "/etc/coffer/coffer.toml": ws.config] {
                command = command.replacingOccurrences(of: path, with: here)
            }
            func cron(_ command: String) throws -> CommandResult {
                try ws.run("/usr/bin/env", ["-i", "HOME=\(ws.root)", "PATH=/usr/bin:/bin", "/bin/sh", "-c", command])
            }
            let coffer = try #require(command.components(separatedBy: " && ").last)
            let unexported = try cron(coffer)
            #expect(unexported.status != 0 && unexported.stderr.contains("DATABASE_URL is not set"), "\(unexported.stderr)")

            // Snapshot role, as documented (block 1, as a superuser).
            try superuser(renamed(sql[0], names))
            let snapshot = try cron(command)
            #expect(snapshot.status == 0, "\(snapshot.stdout)\(snapshot.stderr)")
            let tables = try lastManifest(ws, "production")["stats"] as? [String: Any]
            #expect((tables?["tables"] as? [String: Int]) == ["public.accounts": 300, "public.orders": 2000, "public.Mixed Case": 2])
            #expect(try ws.coffer("verify", "latest", "--deep").status == 0)

            // Without pg_read_all_data: the grants of block 2, as the owner; a table created later is covered too.
            try superuser("CREATE ROLE \(oldStyle) LOGIN PASSWORD 'change-me'; GRANT CONNECT ON DATABASE \(app) TO \(oldStyle)")
            try server.psql(ws, app, renamed(sql[1], ["coffer_backup": oldStyle]), as: (app, "app-pw"))
            let granted = ["DATABASE_URL": "postgresql://\(oldStyle):change-me@\(server.host):\(server.port)/\(app)"]
            let withGrants = try ws.coffer("snapshot", environment: granted)
            #expect(withGrants.status == 0, "\(withGrants.stderr)")
            try server.psql(ws, app, "CREATE TABLE later (id bigserial PRIMARY KEY, note text); INSERT INTO later (note) VALUES ('x')", as: (app, "app-pw"))
            let afterLater = try ws.coffer("snapshot", environment: granted)
            #expect(afterLater.status == 0, "\(afterLater.stderr)")
            var snapshotted = try server.dump(ws, app)

            // The snapshot role cannot restore; the owner with CREATEDB (block 3) can, ending its own and
            // (with pg_signal_backend, block 4) a reporting user's sessions.
            let refused = try ws.coffer("restore", "latest", "--yes", "--only", "main", environment: ["DATABASE_URL": backupURL])
            #expect(refused.status != 0 && refused.stderr.contains("CREATEDB"), "\(refused.stderr)")
            try superuser(renamed(sql[2], names))
            try superuser(renamed(sql[3], names))
            try superuser("CREATE ROLE \(reporting) LOGIN PASSWORD 'rep-pw'; GRANT CONNECT ON DATABASE \(app) TO \(reporting)")
            try server.psql(ws, app, "DELETE FROM orders WHERE id > 10; UPDATE accounts SET name = 'changed'", as: (app, "app-pw"))
            let sessions = [try applicationSession(server, app, role: app, password: "app-pw"), try applicationSession(server, app, role: reporting, password: "rep-pw")]
            defer { for session in sessions where session.isRunning { kill(session.processIdentifier, SIGKILL) } }
            usleep(500_000)
            let restore = try ws.coffer("restore", "latest", "--yes", environment: ["DATABASE_URL": owner])
            #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
            #expect(try server.dump(ws, app) == snapshotted)
            for session in sessions {
                session.waitUntilExit()
                #expect(session.terminationStatus != 0, "the application's session was not ended")
            }
            // What belongs to the database itself stayed with the kept copy; block 5 puts it back.
            #expect(try server.psql(ws, "postgres", "SELECT pg_get_userbyid(datdba), datacl IS NULL FROM pg_database WHERE datname = '\(app)'") == "\(app)|t")
            try server.psql(ws, app, renamed(sql[4], names), as: (app, "app-pw"))
            #expect(try server.psql(ws, "postgres", "SELECT has_database_privilege('\(reporting)', '\(app)', 'CONNECT'), has_database_privilege('\(names["coffer_backup"]!)', '\(app)', 'CONNECT')") == "f|t")
            // pg_read_all_data covers a schema made later, its tables and its sequences.
            try server.psql(
                ws, app, "CREATE SCHEMA billing; CREATE TABLE billing.invoices (id bigserial PRIMARY KEY, total numeric); INSERT INTO billing.invoices (total) VALUES (1), (2)",
                as: (app, "app-pw"))
            let again = try cron(command)
            #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
            #expect(((try lastManifest(ws, "production")["stats"] as? [String: Any])?["tables"] as? [String: Int])?["billing.invoices"] == 2)
            snapshotted = try server.dump(ws, app)
            let restoreID = try #require(restore.stdout.split(separator: " ").first { $0.hasSuffix(";") }.map { String($0.dropLast()) })
            #expect(try ws.coffer("restore", "--finalize", restoreID, environment: ["DATABASE_URL": owner]).status == 0)

            // Without CREATEDB: a member of the owner role (block 6) restores in place.
            try superuser(renamed(sql[5], names))
            try server.psql(ws, app, "DELETE FROM orders WHERE id > 100; UPDATE accounts SET name = 'again'", as: (app, "app-pw"))
            let member = "postgresql://\(names["coffer_restore"]!):change-me@\(server.host):\(server.port)/\(app)"
            try superuser("GRANT CONNECT ON DATABASE \(app) TO \(names["coffer_restore"]!)")
            let staged = try ws.coffer("restore", "latest", "--yes", "--only", "main", environment: ["DATABASE_URL": member])
            #expect(staged.status != 0 && staged.stderr.contains("--in-place"), "\(staged.stderr)")
            let inPlace = try ws.coffer("restore", "latest", "--yes", "--only", "main", "--in-place", environment: ["DATABASE_URL": member])
            #expect(inPlace.status == 0, "\(inPlace.stdout)\(inPlace.stderr)")
            #expect(try server.dump(ws, app) == snapshotted)
        }
    }

    @Test("the systemd service and timer pass systemd-analyze verify (where systemd is installed)")
    func systemdUnits() throws {
        let units = try documentedBlocks("ini", under: "### Scheduled snapshots: exporting the variables")
        try #require(units.count == 2, "expected the service and the timer")
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else { return }
        try Workspace.with(keys: false) { ws in
            try "DATABASE_URL='postgresql://coffer_backup:change-me@127.0.0.1:5432/app'\n".write(toFile: ws.path("coffer.env"), atomically: true, encoding: .utf8)
            let service = units[0].replacingOccurrences(of: "/etc/coffer/coffer.env", with: ws.path("coffer.env"))
                .replacingOccurrences(of: "/usr/local/bin/coffer", with: cofferBinary)
            try service.write(toFile: ws.path("coffer-snapshot.service"), atomically: true, encoding: .utf8)
            try units[1].write(toFile: ws.path("coffer-snapshot.timer"), atomically: true, encoding: .utf8)
            let verify = try ws.run("/usr/bin/systemd-analyze", ["verify", "--man=no", ws.path("coffer-snapshot.service"), ws.path("coffer-snapshot.timer")])
            #expect(verify.status == 0 && !verify.stderr.contains("Unknown"), "\(verify.stderr)")
        }
    }

    @Test("the Redis users: SYNC with the snapshot user, the logical walk (functions too) with the other, live restore, rollback and finalize with the restore user")
    func redisUsers() throws {
        let acl = try documentedBlocks("text", under: "### A Redis user for Coffer")
        try #require(acl.count == 3, "expected three ACL blocks: snapshot, logical snapshot, restore")
        let server = try RedisServer()
        server.populate()
        let snapshotted = server.digest()
        try withRedisProject { ws in
            var users: [String] = []
            for block in acl {
                let arguments = block.split(separator: " ").map { $0 == ">CHANGE-ME" ? ">user-pw" : String($0) }
                let created = try ws.run("/usr/bin/redis-cli", ["-p", String(server.port)] + arguments, environment: ["REDISCLI_AUTH": server.password])
                #expect(created.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "OK", "\(block): \(created.stdout)\(created.stderr)")
                users.append(arguments[2])
            }
            func url(_ user: String) -> [String: String] { ["REDIS_URL": "redis://\(user):user-pw@127.0.0.1:\(server.port)"] }

            let replication = try ws.coffer("snapshot", environment: url(users[0]))
            #expect(replication.status == 0 && !replication.stderr.contains("refused SYNC"), "\(replication.stderr)")
            let first = try lastManifest(ws, "development")
            #expect((first["source"] as? [String: Any])?["snapshot"] as? String == "replication")
            #expect((first["stats"] as? [String: Any])?["functions"] as? Int == 1)

            let logical = try ws.coffer("snapshot", environment: url(users[1]))
            #expect(logical.status == 0 && logical.stderr.contains("refused SYNC"), "\(logical.stderr)")
            let second = try lastManifest(ws, "development")
            #expect((second["source"] as? [String: Any])?["snapshot"] as? String == "logical")
            #expect((second["stats"] as? [String: Any])?["functions"] as? Int == 1)
            #expect((second["stats"] as? [String: Any])?["keys"] as? [String: Int] == (first["stats"] as? [String: Any])?["keys"] as? [String: Int])

            server.cli("-n", "0", "SET", "d0:str", "changed")
            server.cli("-n", "3", "FLUSHDB")
            let changed = server.digest()
            let restore = try ws.coffer("restore", "latest", "--yes", environment: url(users[2]))
            #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
            #expect(server.digest() == snapshotted)
            let restoreID = try #require(restore.stdout.split(separator: " ").first { $0.hasSuffix(";") }.map { String($0.dropLast()) })
            let rollback = try ws.coffer("rollback", restoreID, environment: url(users[2]))
            #expect(rollback.status == 0, "\(rollback.stdout)\(rollback.stderr)")
            #expect(server.digest() == changed)
            #expect(try ws.coffer("restore", "--finalize", restoreID, environment: url(users[2])).status == 0)
            #expect(server.nonEmptyDatabases() == ["db0"], "\(server.nonEmptyDatabases())")
        }
    }
}
