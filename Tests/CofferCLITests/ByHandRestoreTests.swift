import Foundation
import Testing

/// The `sh` blocks of docs/RESTORE.md's "By hand, without Coffer" section, in order, as written.
private func byHandBlocks() throws -> [String] {
    let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/RESTORE.md").standardized.path
    let text = try String(contentsOfFile: docs, encoding: .utf8)
    let start = try #require(text.range(of: "## By hand, without Coffer")).upperBound
    let section = text[start...].components(separatedBy: "\n## ").first ?? ""
    var blocks: [String] = []
    var current: [Substring]?
    for line in section.split(separator: "\n", omittingEmptySubsequences: false) {
        if current == nil, line == "```sh" {
            current = []
        } else if current != nil, line == "```" {
            blocks.append(current!.joined(separator: "\n"))
            current = nil
        } else {
            current?.append(line)
        }
    }
    return blocks
}

@Suite("the by-hand restore of docs/RESTORE.md, run as written", .serialized)
struct ByHandRestoreTests {
    @Test(
        "every command block of the by-hand section restores SQLite, PostgreSQL, Redis and env from a bundle made before `keys rotate` and `keys rotate --signing`, of format 2 and of format 1",
        arguments: [true, false])
    func byHandAfterRotations(chunked: Bool) throws {
        let blocks = try byHandBlocks()
        #expect(blocks.count >= 6, "the by-hand section lost its command blocks")
        let pg = try PostgresServer.require()
        let redis = try RedisServer()
        redis.populate()
        try Workspace.with(keys: false) { ws in
            let database = "byhand_" + UUID().uuidString.prefix(8).lowercased()
            try pg.psql(ws, "postgres", "CREATE DATABASE \(database)")
            defer {
                for name in [database, database + "_before_restore", database + "_restored"] {
                    _ = try? pg.psql(ws, "postgres", "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
                }
            }
            try pg.psql(ws, database, applicationSchema)
            try (fourTargetConfig(environment: "production", envFile: ".env") + "\n[format]\nchunked = \(chunked)\n")
                .write(toFile: ws.config, atomically: true, encoding: .utf8)
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/open-bundle.sh").standardized.path
            let env = [
                "OPEN": script,
                "DATABASE_URL": "postgresql://\(pg.user):\(pg.password)@\(pg.host):\(pg.port)/\(database)",
                "REDIS_URL": "redis://:\(redis.password)@127.0.0.1:\(redis.port)",
            ]
            try #require(try ws.run("sqlite3", ["app.db", "CREATE TABLE t(x); INSERT INTO t VALUES (1),(2),(3);"]).status == 0)
            try ws.write(".env", Array("# settings\nexport API_KEY=\"k-original\"\nOTHER=kept\n".utf8))
            try #require(try ws.coffer("keys", "init").status == 0)
            let snapshot = try ws.coffer("snapshot", environment: env)
            try #require(snapshot.status == 0, "\(snapshot.stderr)")
            let bundle = (app: try ws.run("sqlite3", ["app.db", ".dump"]).stdout, main: try pg.dump(ws, database), cache: redis.digest())
            let rotate = try ws.coffer("keys", "rotate")
            try #require(rotate.status == 0, "\(rotate.stderr)")
            let rotateSigning = try ws.coffer("keys", "rotate", "--signing")
            try #require(rotateSigning.status == 0, "\(rotateSigning.stderr)")
            let manifest = try ws.run("sh", ["-c", "cat backups/bundles/production/*/manifest.json"]).stdout
            #expect(manifest.contains(chunked ? "\"coffer/2\"" : "\"coffer/1\""))
            let recipient = try String(contentsOfFile: ws.path("keys/production.age.pub"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(manifest.contains(recipient), "the headers were not rewrapped for the new identity")

            // Everything changes after the snapshot.
            try #require(try ws.run("sqlite3", ["app.db", "DELETE FROM t"]).status == 0)
            try pg.psql(ws, database, "DELETE FROM orders; UPDATE accounts SET name = 'changed'")
            redis.cli("-n", "0", "SET", "d0:str", "changed")
            try ws.write(".env", Array("# settings\nexport API_KEY=\"k-changed\"\nOTHER=kept\n".utf8))

            let procedure = "set -euo pipefail\n" + blocks.joined(separator: "\n")
            // Through python's close_fds: the redis-server the doc starts must not inherit
            // the descriptor this test process waits on for bash to end.
            let run = try ws.run(
                "python3", ["-c", "import subprocess, sys; sys.exit(subprocess.call(['bash', '-c', sys.argv[1]], close_fds=True))", procedure], environment: env)
            defer { redis.cli("SHUTDOWN", "NOSAVE") }  // the doc started it again, daemonized
            #expect(run.status == 0, "the by-hand procedure failed:\n\(run.stdout)\n\(run.stderr)")
            #expect(run.stdout.contains("signed by"), "\(run.stdout)")

            #expect(try ws.run("sqlite3", ["app.db", ".dump"]).stdout == bundle.app)
            #expect(try pg.dump(ws, database) == bundle.main)
            #expect(redis.digest() == bundle.cache)
            let merged = String(decoding: try ws.read(".env"), as: UTF8.self)
            #expect(merged.contains("API_KEY=\"k-original\"") && !merged.contains("k-changed"), "\(merged)")
            #expect(merged.hasPrefix("# settings\n") && merged.contains("OTHER=kept\n"), "\(merged)")
        }
    }
}
