import Foundation
import Testing

/// The bundle in Fixtures/format1, written by Coffer before gzip members recorded their sizes.
private let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/format1").path

@Suite("bundles of format 1 as written before parallel gunzip", .serialized)
struct FormatCompatibilityTests {
    @Test("a committed format 1 bundle verifies --deep and restores: SQLite, PostgreSQL and env, every row back")
    func restoresFormatOne() throws {
        let server = try PostgresServer.require()
        try Workspace.with(keys: false) { ws in
            for folder in ["backups", "keys"] {
                try FileManager.default.copyItem(atPath: fixture + "/" + folder, toPath: ws.path(folder))
            }
            chmod(ws.path("keys/development.age"), 0o600)
            let database = "format1_" + UUID().uuidString.prefix(8).lowercased()
            defer { _ = try? server.psql(ws, "postgres", "DROP DATABASE IF EXISTS \(database) WITH (FORCE)") }
            try ws.appendConfig(
                """
                [[sqlite]]
                name = "app"
                path = "app.db"

                [[postgres]]
                name = "main"

                [env]
                include = ["APP_GREETING"]
                restore_to = "restored.env"
                """)
            let env = ["DATABASE_URL": server.url(database)]
            let verify = try ws.coffer("verify", "latest", "--deep", environment: env)
            #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")

            let restore = try ws.coffer("restore", "latest", "--yes", environment: env)
            try #require(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
            let users = try ws.run("sqlite3", [ws.path("app.db"), "SELECT count(*), max(email) FROM users"])
            #expect(users.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "5000|user9@example.com")
            #expect(try server.psql(ws, database, "SELECT count(*), sum(balance) FROM accounts") == "3000|6752250.00")
            #expect(try server.psql(ws, database, "SELECT count(*), min(length(body)) FROM notes") == "800|1280")
            #expect(try server.psql(ws, database, "SELECT count(*) FROM pg_indexes WHERE tablename = 'notes'") == "2")
            let restoredEnv = try String(contentsOfFile: ws.path("restored.env"), encoding: .utf8)
            #expect(restoredEnv.contains("APP_GREETING=\"hello from format 1\"") || restoredEnv.contains("APP_GREETING=hello from format 1"), "\(restoredEnv)")
        }
    }
}
