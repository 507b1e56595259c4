import Foundation
import Testing

/// The PostgreSQL 15 server `make test` starts (scripts/pg-server.sh), as COFFER_TEST_PG_* variables.
struct PostgresServer {
    let bin, host, port, user, password: String

    static func require() throws -> PostgresServer {
        let env = ProcessInfo.processInfo.environment
        func value(_ name: String) throws -> String {
            try #require(env[name], "\(name) is not set: the PostgreSQL tests need the server that `make test` starts")
        }
        return PostgresServer(
            bin: try value("COFFER_TEST_PG_BIN"), host: try value("COFFER_TEST_PG_HOST"), port: try value("COFFER_TEST_PG_PORT"),
            user: try value("COFFER_TEST_PG_USER"), password: try value("COFFER_TEST_PG_PASSWORD"))
    }

    func url(_ database: String, password: String? = nil) -> String {
        "postgresql://\(user):\(password ?? self.password)@\(host):\(port)/\(database)"
    }

    /// The client programs' connection, password in the environment.
    var environment: [String: String] { ["PGHOST": host, "PGPORT": port, "PGUSER": user, "PGPASSWORD": password] }

    /// Runs SQL with psql (stops at the first error) and returns its unaligned output.
    @discardableResult
    func psql(_ ws: Workspace, _ database: String, _ sql: String, as role: (String, String)? = nil) throws -> String {
        let login = role.map { environment.merging(["PGUSER": $0.0, "PGPASSWORD": $0.1]) { $1 } } ?? environment
        let result = try ws.run("psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql], environment: login)
        try #require(result.status == 0, "psql: \(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension PostgresServer {
    /// The database as plain SQL, with a fixed \\restrict key so two dumps of equal databases are equal byte for byte.
    func dump(_ ws: Workspace, _ database: String) throws -> String {
        let result = try ws.run("pg_dump", ["--restrict-key=coffertest", "-d", database], environment: environment)
        try #require(result.status == 0, "pg_dump: \(result.stderr)")
        return result.stdout
    }

    /// Databases whose names contain `fragment` (staging and kept copies are `DB__coffer_ID`, `DB__pre_ID`).
    func databases(_ ws: Workspace, containing fragment: String) throws -> [String] {
        try psql(ws, "postgres", "SELECT datname FROM pg_database WHERE strpos(datname, '\(fragment)') > 0 ORDER BY 1").split(separator: "\n").map(String.init)
    }
}

extension PostgresServer {
    /// A second database, owned and filled (the application schema) by a new
    /// role made with `options` (`CREATEDB` or nothing); dropped afterwards.
    /// `body` gets the database and the environment that snapshots it as that role.
    func withOwnedDatabase(_ ws: Workspace, _ name: String, role options: String, _ body: (String, [String: String]) throws -> Void) throws {
        let owner = "owner_" + name
        let password = "pw-" + name
        try psql(ws, "postgres", "CREATE ROLE \(owner) LOGIN PASSWORD '\(password)' \(options)")
        try psql(ws, "postgres", "CREATE DATABASE \(name) OWNER \(owner)")
        defer {
            _ = try? psql(ws, "postgres", "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            _ = try? psql(ws, "postgres", "DROP ROLE IF EXISTS \(owner)")
        }
        try psql(ws, name, applicationSchema, as: (owner, password))
        try body(name, ["DATABASE_URL": "postgresql://\(owner):\(password)@\(host):\(port)/\(name)"])
    }

    /// A superuser's psql session running `sql` in the background (an application holding the database); kill it when done.
    func session(_ database: String, _ sql: String) throws -> Process {
        let session = Process()
        session.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        session.arguments = ["psql", "-X", "-q", "-d", database, "-c", sql]
        session.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        session.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try session.run()
        usleep(300_000)
        return session
    }
}

/// Ends a background session.
private func end(_ session: Process) {
    kill(session.processIdentifier, SIGKILL)
    session.waitUntilExit()
}

/// A schema with the kinds of objects a real application has: enums, arrays,
/// jsonb, sequences, foreign keys, a view, a function and a trigger.
let applicationSchema = """
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
    CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, tags text[], profile jsonb, mood mood, updated timestamptz);
    CREATE TABLE orders (id bigserial PRIMARY KEY, account int REFERENCES accounts(id), total numeric(12,2), placed date);
    CREATE SEQUENCE invoice_numbers START 1000;
    CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
    CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated := now(); RETURN NEW; END $$;
    CREATE TRIGGER accounts_touch BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch();
    INSERT INTO accounts (name, tags, profile, mood)
      SELECT 'user ' || g, ARRAY['t' || g % 3, 'x'], jsonb_build_object('n', g, 'deep', jsonb_build_array(g, 'a')), (ARRAY['sad','ok','happy']::mood[])[g % 3 + 1]
      FROM generate_series(1, 300) g;
    INSERT INTO orders (account, total, placed) SELECT g % 300 + 1, g * 1.5, date '2026-01-01' + g % 90 FROM generate_series(1, 2000) g;
    SELECT nextval('invoice_numbers') FROM generate_series(1, 5);
    CREATE TABLE "Mixed Case" (x int);
    INSERT INTO "Mixed Case" VALUES (1), (2);
    """

/// A workspace backing up one fresh database, `main`, filled with the application schema.
private func withPostgresProject(_ body: (Workspace, PostgresServer, String) throws -> Void) throws {
    let server = try PostgresServer.require()
    try Workspace.with { ws in
        let database = "app_" + UUID().uuidString.prefix(8).lowercased()
        try server.psql(ws, "postgres", "CREATE DATABASE \(database)")
        defer { _ = try? server.psql(ws, "postgres", "DROP DATABASE IF EXISTS \(database) WITH (FORCE)") }
        try server.psql(ws, database, applicationSchema)
        try """
            environment = "development"
            repository = "backups"
            keys = "keys"

            [[postgres]]
            name = "main"
            url_env = "DATABASE_URL"
            """.write(toFile: ws.config, atomically: true, encoding: .utf8)
        try body(ws, server, database)
    }
}

private func lastArtifact(_ ws: Workspace) throws -> (id: String, artifact: [String: Any]) {
    let bundles = ws.path("backups/bundles/development")
    let id = try #require(try FileManager.default.contentsOfDirectory(atPath: bundles).filter { !$0.hasPrefix(".") }.sorted().last)
    let data = try Data(contentsOf: URL(fileURLWithPath: "\(bundles)/\(id)/manifest.json"))
    let manifest = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    return (id, try #require((manifest?["artifacts"] as? [[String: Any]])?.first))
}

@Suite("coffer with PostgreSQL (a real PostgreSQL 15 server)", .serialized)
struct PostgresCommandTests {
    @Test("snapshot: pg_dump streamed and sealed, facts and exact row counts in the manifest; verify --deep; pg_restore opens it by hand")
    func snapshot() throws {
        try withPostgresProject { ws, server, database in
            try ws.pinFormatOne()
            let env = ["DATABASE_URL": server.url(database)]
            let snapshot = try ws.coffer("snapshot", environment: env)
            #expect(snapshot.status == 0, "\(snapshot.stderr)")
            #expect(!snapshot.stdout.contains(server.password) && !snapshot.stderr.contains(server.password))
            let (id, artifact) = try lastArtifact(ws)
            let source = try #require(artifact["source"] as? [String: Any])
            #expect((source["server_version"] as? String)?.hasPrefix("15.") == true)
            #expect(source["database"] as? String == database && source["encoding"] as? String == "UTF8")
            let tables = try #require((artifact["stats"] as? [String: Any])?["tables"] as? [String: Int])
            #expect(tables == ["public.accounts": 300, "public.orders": 2000, "public.Mixed Case": 2])
            let verify = try ws.coffer("verify", "latest", "--deep")
            #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")

            // By hand: age + gunzip give a custom-format dump that pg_restore reads and restores.
            let artifacts = "backups/bundles/development/\(id)/artifacts/main.pgdump.gz.age"
            let opened = try ws.run("/bin/sh", ["-c", "cat \(artifacts)-header \(artifacts)-payload | age -d -i keys/development.age | gunzip > main.dump"])
            #expect(opened.status == 0, "\(opened.stderr)")
            let copy = database + "_copy"
            try server.psql(ws, "postgres", "CREATE DATABASE \(copy)")
            defer { _ = try? server.psql(ws, "postgres", "DROP DATABASE IF EXISTS \(copy) WITH (FORCE)") }
            let restored = try ws.run("pg_restore", ["--no-owner", "-d", copy, "main.dump"], environment: server.environment)
            #expect(restored.status == 0, "\(restored.stderr)")
            #expect(try server.psql(ws, copy, "SELECT count(*) FROM orders") == "2000")
            #expect(try server.psql(ws, copy, "SELECT last_value FROM invoice_numbers") == "1004")
        }
    }

    @Test("several [[postgres]] entries: one artifact each, each with its own database's counts")
    func severalDatabases() throws {
        try withPostgresProject { ws, server, database in
            let second = database + "_second"
            try server.psql(ws, "postgres", "CREATE DATABASE \(second)")
            defer { _ = try? server.psql(ws, "postgres", "DROP DATABASE IF EXISTS \(second) WITH (FORCE)") }
            try server.psql(ws, second, "CREATE TABLE jobs (id int); INSERT INTO jobs SELECT generate_series(1, 7)")
            try ws.appendConfig("[[postgres]]\nname = \"queue\"\nurl_env = \"QUEUE_URL\"\n")
            let snapshot = try ws.coffer("snapshot", environment: ["DATABASE_URL": server.url(database), "QUEUE_URL": server.url(second)])
            #expect(snapshot.status == 0, "\(snapshot.stderr)")
            let bundles = ws.path("backups/bundles/development")
            let id = try #require(try FileManager.default.contentsOfDirectory(atPath: bundles).sorted().last)
            let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(bundles)/\(id)/manifest.json"))) as? [String: Any]
            let artifacts = try #require(manifest?["artifacts"] as? [[String: Any]])
            #expect(artifacts.map { $0["name"] as? String } == ["main", "queue"])
            #expect(((artifacts[1]["stats"] as? [String: Any])?["tables"] as? [String: Int]) == ["public.jobs": 7])
            #expect(try ws.coffer("verify", "latest", "--deep").status == 0)
        }
    }

    @Test("the row counts are those of the dump while the application keeps writing")
    func consistentWhileWriting() throws {
        try withPostgresProject { ws, server, database in
            try ws.pinFormatOne()
            let writer = try server.session(
                database, "DO $$ BEGIN FOR i IN 1..100000 LOOP INSERT INTO orders (account, total) VALUES (1, i); COMMIT; END LOOP; END $$")
            defer { end(writer) }
            let snapshot = try ws.coffer("snapshot", environment: ["DATABASE_URL": server.url(database)])
            #expect(snapshot.status == 0, "\(snapshot.stderr)")
            let (id, artifact) = try lastArtifact(ws)
            let counted = try #require(((artifact["stats"] as? [String: Any])?["tables"] as? [String: Int])?["public.orders"])
            #expect(counted > 2000, "the writer had not started")
            let artifacts = "backups/bundles/development/\(id)/artifacts/main.pgdump.gz.age"
            #expect(try ws.run("/bin/sh", ["-c", "cat \(artifacts)-header \(artifacts)-payload | age -d -i keys/development.age | gunzip > main.dump"]).status == 0)
            let data = try ws.run("pg_restore", ["--data-only", "--table=orders", "-f", "-", "main.dump"], environment: server.environment)
            // COPY rows: the lines between "COPY public.orders" and "\.".
            let lines = data.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            let start = try #require(lines.firstIndex { $0.hasPrefix("COPY public.orders") })
            let end = try #require(lines[start...].firstIndex { $0 == "\\." })
            #expect(end - start - 1 == counted)
        }
    }

    @Test("unreachable server, wrong password, no such database, DATABASE_URL unset: a clear error, no bundle, no password shown")
    func refusedSnapshots() throws {
        try withPostgresProject { ws, server, database in
            let cases: [([String: String], String)] = [
                (["DATABASE_URL": "postgresql://\(server.user):secret-77@127.0.0.1:1/\(database)"], "cannot connect"),
                (["DATABASE_URL": server.url(database, password: "not-the-password-77")], "password authentication failed"),
                (["DATABASE_URL": server.url("no_such_database")], "does not exist"),
                (["DATABASE_URL": ""], "DATABASE_URL is not set"),
            ]
            for (env, message) in cases {
                let result = try ws.coffer("snapshot", environment: env)
                #expect(result.status != 0)
                #expect(result.stderr.contains(message), "\(result.stderr)")
                #expect(!result.stderr.contains("not-the-password-77") && !result.stderr.contains("secret-77"))
                let bundles = (try? FileManager.default.contentsOfDirectory(atPath: ws.path("backups/bundles/development"))) ?? []
                #expect(bundles.isEmpty)
            }
        }
    }

    @Test("restore through a staging database: byte-identical dump, the app's sessions ended, rollback and finalize; --to a new database; verify --restore-test")
    func restore() throws {
        try withPostgresProject { ws, server, database in
            let env = ["DATABASE_URL": server.url(database)]
            #expect(try ws.coffer("snapshot", environment: env).status == 0)
            let snapshotted = try server.dump(ws, database)
            let tested = try ws.coffer("verify", "latest", "--restore-test", environment: env)
            #expect(tested.status == 0, "\(tested.stdout)\(tested.stderr)")
            #expect(try server.databases(ws, containing: database + "__coffer_").isEmpty, "the test restore left its database")

            try server.psql(ws, database, "DELETE FROM orders WHERE id > 10; ALTER TABLE accounts ADD COLUMN extra int; SELECT setval('invoice_numbers', 5000)")
            let changed = try server.dump(ws, database)
            // An application session on the target: the commit ends it.
            let session = try server.session(database, "SELECT pg_sleep(60)")
            defer { end(session) }
            let restore = try ws.coffer("restore", "latest", "--yes", environment: env)
            #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
            #expect(try server.dump(ws, database) == snapshotted)
            let restoreID = try #require(restore.stdout.split(separator: " ").first { $0.hasSuffix(";") }.map { String($0.dropLast()) })
            #expect(try server.databases(ws, containing: database + "__pre_").count == 1)

            #expect(try ws.coffer("rollback", restoreID, environment: env).status == 0)
            #expect(try server.dump(ws, database) == changed)
            #expect(try ws.coffer("restore", "--finalize", restoreID, environment: env).status == 0)
            #expect(try server.databases(ws, containing: database + "__").isEmpty, "kept or staging databases left")

            // Into a database that does not exist yet; rolling back removes it again.
            let copy = database + "_new"
            defer { _ = try? server.psql(ws, "postgres", "DROP DATABASE IF EXISTS \(copy) WITH (FORCE)") }
            let into = try ws.coffer("restore", "latest", "--yes", "--to", "main=\(copy)", environment: env)
            #expect(into.status == 0, "\(into.stdout)\(into.stderr)")
            #expect(try server.dump(ws, copy) == snapshotted)
            #expect(try server.dump(ws, database) == changed, "--to touched the configured database")
            let intoID = try #require(into.stdout.split(separator: " ").first { $0.hasSuffix(";") }.map { String($0.dropLast()) })
            #expect(try ws.coffer("rollback", intoID, environment: env).status == 0)
            #expect(try ws.coffer("restore", "--finalize", intoID, environment: env).status == 0)
            #expect(try server.databases(ws, containing: copy).isEmpty)
        }
    }

    @Test("pg_restore failing midway (a role the dump needs is gone), a tampered dump, no CREATEDB, a full disk: clear errors, target unchanged, no staging database")
    func refusedRestores() throws {
        try withPostgresProject { ws, server, database in
            let role = "gone_" + database
            try server.psql(ws, database, "CREATE ROLE \(role); CREATE TABLE owned (x int); ALTER TABLE owned OWNER TO \(role)")
            let env = ["DATABASE_URL": server.url(database)]
            #expect(try ws.coffer("snapshot", environment: env).status == 0)
            try server.psql(ws, database, "DROP OWNED BY \(role); DROP ROLE \(role); DELETE FROM orders")
            let before = try server.dump(ws, database)
            func refused(_ result: CommandResult, _ message: String) throws {
                #expect(result.status != 0)
                #expect(result.stderr.contains(message), "\(result.stderr)")
                #expect(try server.dump(ws, database) == before)
                #expect(try server.databases(ws, containing: database + "__").isEmpty, "a staging database was left")
            }
            try refused(try ws.coffer("restore", "latest", "--yes", environment: env), "pg_restore failed")

            let limited = "limited_" + database
            try server.psql(ws, database, "CREATE ROLE \(limited) LOGIN PASSWORD 'limited-pw'")
            defer { _ = try? server.psql(ws, "postgres", "DROP ROLE IF EXISTS \(limited)") }
            let asLimited = ["DATABASE_URL": "postgresql://\(limited):limited-pw@\(server.host):\(server.port)/\(database)"]
            try refused(try ws.coffer("restore", "latest", "--yes", environment: asLimited), "CREATEDB")

            let full = try ws.run("/bin/sh", ["-c", "ulimit -f 64; exec \"$0\" --config coffer.toml restore latest --yes", cofferBinary], environment: env)
            try refused(full, "cannot write the dump")

            let payload = try #require(try FileManager.default.subpathsOfDirectory(atPath: ws.path("backups")).first { $0.hasSuffix("age-payload") })
            var bytes = try ws.read("backups/" + payload)
            bytes[bytes.count / 2] ^= 1
            try ws.write("backups/" + payload, bytes)
            let tampered = try ws.coffer("restore", "latest", "--yes", environment: env)
            #expect(tampered.status == 5)
            try refused(tampered, "main")
        }
    }

    @Test("sessions that cannot be ended at commit time fail the restore; a restore killed while staging leaves a database that --recover drops")
    func busyTargetAndKilledStaging() throws {
        try withPostgresProject { ws, server, other in
            // A database of a role that may create databases but is no superuser.
            try server.withOwnedDatabase(ws, other + "_owned", role: "CREATEDB") { database, env in
                let snapshot = try ws.coffer("snapshot", environment: env)
                #expect(snapshot.status == 0, "\(snapshot.stderr)")
                try server.psql(ws, database, "DELETE FROM orders")
                let before = try server.dump(ws, database)

                // A superuser's session: the owner may not end it, so the rename cannot happen.
                let session = try server.session(database, "SELECT pg_sleep(60)")
                let busy = try ws.coffer("restore", "latest", "--yes", environment: env)
                end(session)
                #expect(busy.status != 0)
                #expect(busy.stderr.contains("could not be ended"), "\(busy.stderr)")
                #expect(try server.dump(ws, database) == before)
                #expect(try server.databases(ws, containing: database + "__").isEmpty)

                let killed = try ws.coffer("restore", "latest", "--yes", environment: env.merging(["COFFER_FAULT": "restore-after-stage-1"]) { $1 })
                #expect(killed.status != 0)
                #expect(try server.databases(ws, containing: database + "__coffer_").count == 1)
                let again = try ws.coffer("restore", "latest", "--yes", environment: env)
                #expect(again.status != 0 && again.stderr.contains("--recover"), "\(again.stderr)")
                let recovered = try ws.coffer("restore", "--recover", environment: env)
                #expect(recovered.status == 0, "\(recovered.stdout)\(recovered.stderr)")
                #expect(try server.databases(ws, containing: database + "__").isEmpty)
                #expect(try server.dump(ws, database) == before)
            }
        }
    }

    @Test("--in-place for a role without CREATEDB: one transaction, byte-identical; a lock held by the application fails it and changes nothing")
    func inPlace() throws {
        try withPostgresProject { ws, server, other in
            try server.withOwnedDatabase(ws, other + "_inplace", role: "") { database, env in
                #expect(try ws.coffer("snapshot", environment: env).status == 0)
                let snapshotted = try server.dump(ws, database)
                try server.psql(ws, database, "DELETE FROM orders WHERE id > 5; INSERT INTO accounts (name) VALUES ('late')")
                let before = try server.dump(ws, database)

                let refused = try ws.coffer("restore", "latest", "--yes", environment: env)
                #expect(refused.status != 0 && refused.stderr.contains("CREATEDB") && refused.stderr.contains("--in-place"), "\(refused.stderr)")

                let holder = try server.session(database, "BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(30);")
                let locked = try ws.coffer("restore", "latest", "--yes", "--in-place", environment: env)
                _ = try? server.psql(ws, "postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database)' AND query LIKE '%pg_sleep%'")
                end(holder)
                #expect(locked.status != 0)
                #expect(locked.stderr.contains("lock timeout"), "\(locked.stderr)")
                #expect(try server.dump(ws, database) == before)

                let restore = try ws.coffer("restore", "latest", "--yes", "--in-place", environment: env)
                #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
                #expect(restore.stderr.contains("restored in place"))
                #expect(try server.dump(ws, database) == snapshotted)
                let restoreID = try #require(restore.stdout.split(separator: " ").first { $0.hasSuffix(";") }.map { String($0.dropLast()) })
                #expect(try ws.coffer("rollback", restoreID, environment: env).status != 0)
                #expect(try ws.coffer("restore", "--finalize", restoreID, environment: env).status == 0)
            }
        }
    }
}
