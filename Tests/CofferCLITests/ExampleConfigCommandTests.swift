import Foundation
import Testing

/// The file names of examples/*.toml: a new example is tested without being listed here.
let exampleNames: [String] = {
    let folder = packageRoot + "/examples"
    return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".toml") }.sorted()
}()

/// Copies examples/NAME into the workspace as its coffer.toml, as it is, except
/// that an S3 repository becomes a fresh prefix of the test bucket and `[s3]`
/// points at the test server. Returns the environment coffer needs for it
/// (the S3 credentials, when there is an S3 repository).
private func useExample(_ name: String, in ws: Workspace) throws -> [String: String] {
    var text = try String(contentsOfFile: packageRoot + "/examples/" + name, encoding: .utf8)
    guard text.contains("\nrepository = \"s3://") else {
        try text.write(toFile: ws.config, atomically: true, encoding: .utf8)
        return [:]
    }
    let server = try S3Server.require()
    let prefix = "example-" + UUID().uuidString.lowercased()
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    for index in lines.indices {
        let line = lines[index]
        if line.hasPrefix("repository = ") { lines[index] = "repository = \"s3://\(server.bucket)/\(prefix)\"" }
        if line.hasPrefix("endpoint = ") { lines[index] = "endpoint = \"\(server.endpoint)\"" }
        if line.hasPrefix("region = ") { lines[index] = "region = \"us-east-1\"" }
        if line.hasPrefix("path_style = ") { lines[index] = "path_style = true" }
    }
    text = lines.joined(separator: "\n")
    try text.write(toFile: ws.config, atomically: true, encoding: .utf8)
    return server.credentials
}

/// The restore id in `coffer restore`'s first line (`ID; ...`).
private func restoreID(_ result: CommandResult) throws -> String {
    try #require(result.stdout.split(separator: " ").first { $0.hasSuffix(";") }.map { String($0.dropLast()) }, "\(result.stdout)\(result.stderr)")
}

private func trimmed(_ result: CommandResult) -> String { result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }

@Suite("examples/*.toml, run as they are", .serialized)
struct ExampleConfigCommandTests {
    @Test("there is an example for each common stack")
    func stacks() {
        #expect(Set(exampleNames).isSuperset(of: ["sqlite-local.toml", "postgres-redis-s3.toml", "staging-weekly.toml"]), "\(exampleNames)")
    }

    @Test("each example: keys init, then status reaches the repository and finds no bundle yet (exit 2), no configuration error", arguments: exampleNames)
    func statusWithoutBundles(_ name: String) throws {
        try Workspace.with(keys: false) { ws in
            let environment = try useExample(name, in: ws)
            let keys = try ws.coffer("keys", "init")
            #expect(keys.status == 0, "\(keys.stderr)")
            let status = try ws.coffer("status", environment: environment)
            #expect(status.status == 2, "\(status.stdout)\(status.stderr)")
            #expect(status.stdout.contains("no bundle for") && status.stdout.contains("yet"), "\(status.stdout)")
        }
    }

    @Test("sqlite-local.toml: snapshot, verify --deep, status ok; restore brings back the database and the secrets, the .env's other lines kept")
    func sqliteLocal() throws {
        try Workspace.with(keys: false) { ws in
            _ = try useExample("sqlite-local.toml", in: ws)
            try FileManager.default.createDirectory(atPath: ws.path("data"), withIntermediateDirectories: true)
            #expect(try ws.run("sqlite3", ["data/app.db", "PRAGMA journal_mode=WAL; CREATE TABLE users(name); INSERT INTO users VALUES ('ann'),('bob');"]).status == 0)
            try "# the application's settings\nDEBUG=false\nSECRET_KEY=secret-1\nFERNET_KEY=fernet-1\nSMTP_PASSWORD=smtp-1\nAPP_REGION=eu\n"
                .write(toFile: ws.path(".env"), atomically: true, encoding: .utf8)
            #expect(try ws.coffer("keys", "init").status == 0)
            #expect(ws.exists("keys/production.age") && ws.exists("keys/production.age.pub"))

            let snapshot = try ws.coffer("snapshot", "--label", "first")
            #expect(snapshot.status == 0, "\(snapshot.stderr)")
            #expect(try ws.coffer("verify", "latest", "--deep").status == 0)
            let status = try ws.coffer("status")
            #expect(status.status == 0, "\(status.stdout)\(status.stderr)")

            #expect(try ws.run("sqlite3", ["data/app.db", "DELETE FROM users"]).status == 0)
            try "# the application's settings\nDEBUG=true\nSECRET_KEY=leaked\nFERNET_KEY=fernet-1\nSMTP_PASSWORD=smtp-1\nAPP_REGION=eu\n"
                .write(toFile: ws.path(".env"), atomically: true, encoding: .utf8)
            let restore = try ws.coffer("restore", "latest", "--yes")
            #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
            #expect(trimmed(try ws.run("sqlite3", ["data/app.db", "SELECT group_concat(name) FROM users"])) == "ann,bob")
            let env = try String(contentsOfFile: ws.path(".env"), encoding: .utf8)
            // The bundle's variables are written back (quoted); DEBUG is not one of them and keeps its new value.
            #expect(env == "# the application's settings\nDEBUG=true\nSECRET_KEY=\"secret-1\"\nFERNET_KEY=\"fernet-1\"\nSMTP_PASSWORD=\"smtp-1\"\nAPP_REGION=\"eu\"\n", "\(env)")
        }
    }

    @Test("postgres-redis-s3.toml: PostgreSQL, Redis and the env file into S3; status ok, verify --deep, a restore of all three")
    func postgresRedisS3() throws {
        let postgres = try PostgresServer.require()
        let redis = try RedisServer()
        redis.populate()
        let snapshotted = redis.digest()
        try Workspace.with(keys: false) { ws in
            let credentials = try useExample("postgres-redis-s3.toml", in: ws)
            let database = "example_" + UUID().uuidString.prefix(8).lowercased()
            try postgres.psql(ws, "postgres", "CREATE DATABASE \(database)")
            defer { _ = try? postgres.psql(ws, "postgres", "DROP DATABASE IF EXISTS \(database) WITH (FORCE)") }
            try postgres.psql(ws, database, applicationSchema)
            let before = try postgres.dump(ws, database)
            let urls = ["COFFER_DATABASE_URL": postgres.url(database), "COFFER_REDIS_URL": redis.url]
            try "SECRET_KEY=secret-1\nFERNET_KEY=fernet-1\nSTRIPE_API_KEY=sk-1\nDATABASE_URL=postgresql://app@db/app\nREDIS_URL=redis://cache\nAPP_MODE=live\nWORKERS=4\n"
                .write(toFile: ws.path("app.env"), atomically: true, encoding: .utf8)
            let environment = credentials.merging(urls) { $1 }
            #expect(try ws.coffer("keys", "init").status == 0)

            let snapshot = try ws.coffer("snapshot", "--label", "first", environment: environment)
            #expect(snapshot.status == 0, "\(snapshot.stderr)")
            let status = try ws.coffer("status", environment: environment)
            #expect(status.status == 0, "\(status.stdout)\(status.stderr)")
            let verify = try ws.coffer("verify", "latest", "--deep", environment: environment)
            #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")

            try postgres.psql(ws, database, "DELETE FROM orders WHERE id > 10")
            redis.cli("FLUSHALL")
            try "SECRET_KEY=rotated\nFERNET_KEY=fernet-1\nSTRIPE_API_KEY=sk-1\nDATABASE_URL=postgresql://app@db/app\nREDIS_URL=redis://cache\nAPP_MODE=live\nWORKERS=8\n"
                .write(toFile: ws.path("app.env"), atomically: true, encoding: .utf8)
            let restore = try ws.coffer("restore", "latest", "--yes", environment: environment)
            #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
            #expect(try postgres.dump(ws, database) == before)
            #expect(redis.digest() == snapshotted)
            let env = try String(contentsOfFile: ws.path("app.env"), encoding: .utf8)
            #expect(env.hasPrefix("SECRET_KEY=\"secret-1\"\n") && env.hasSuffix("WORKERS=8\n"), "\(env)")
            #expect(try ws.coffer("restore", "--finalize", try restoreID(restore), environment: environment).status == 0)
            #expect(try postgres.databases(ws, containing: database + "__").isEmpty)
        }
    }

    @Test("staging-weekly.toml: seven weekly snapshots; prune keeps the last five weeks; status is ok a week on and warns after 8 days")
    func stagingWeekly() throws {
        let postgres = try PostgresServer.require()
        try Workspace.with(keys: false) { ws in
            _ = try useExample("staging-weekly.toml", in: ws)
            let database = "staging_" + UUID().uuidString.prefix(8).lowercased()
            try postgres.psql(ws, "postgres", "CREATE DATABASE \(database)")
            defer { _ = try? postgres.psql(ws, "postgres", "DROP DATABASE IF EXISTS \(database) WITH (FORCE)") }
            try postgres.psql(ws, database, "CREATE TABLE t(x int); INSERT INTO t VALUES (1)")
            try "SECRET_KEY=staging-secret\nSTAGING_DATABASE_URL=\(postgres.url(database))\nAPP_MODE=staging\n"
                .write(toFile: ws.path(".env"), atomically: true, encoding: .utf8)
            #expect(try ws.coffer("keys", "init").status == 0)
            #expect(ws.exists("keys/staging.age"))
            let environment = ["STAGING_DATABASE_URL": postgres.url(database)]

            // Sundays at 04:00, from 4 October 2026 to 15 November 2026.
            let sundays = (0..<7).map { week in Date(timeIntervalSince1970: 1_791_086_400 + Double(week) * 7 * 86_400) }
            let format = ISO8601DateFormatter()
            var ids: [String] = []
            for sunday in sundays {
                let snapshot = try ws.coffer("snapshot", environment: environment.merging(["COFFER_NOW": format.string(from: sunday)]) { $1 })
                #expect(snapshot.status == 0, "\(snapshot.stderr)")
                ids.append(trimmed(snapshot).split(separator: "\n").last.map(String.init) ?? "")
            }
            #expect(format.string(from: sundays[0]) == "2026-10-04T04:00:00Z")

            let last = sundays[6]
            let prune = try ws.coffer("prune", "--dry-run", "--json", environment: ["COFFER_NOW": format.string(from: last.addingTimeInterval(3600))])
            #expect(prune.status == 0, "\(prune.stdout)\(prune.stderr)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(prune.stdout.utf8)) as? [String: Any], "\(prune.stdout)")
            let bundles = try #require(report["bundles"] as? [[String: Any]])
            #expect(Set(bundles.compactMap { $0["id"] as? String }) == Set(ids))
            let deleted = Set(bundles.filter { ($0["keep"] as? Bool) == false }.compactMap { $0["id"] as? String })
            #expect(deleted == Set(ids.prefix(2)), "\(prune.stdout)")

            let weekOn = try ws.coffer("status", environment: ["COFFER_NOW": format.string(from: last.addingTimeInterval(7 * 86_400))])
            #expect(weekOn.status == 0, "\(weekOn.stdout)\(weekOn.stderr)")
            let missedWeek = try ws.coffer("status", environment: ["COFFER_NOW": format.string(from: last.addingTimeInterval(9 * 86_400))])
            #expect(missedWeek.status == 1, "\(missedWeek.stdout)\(missedWeek.stderr)")
        }
    }
}
