import Foundation
import Testing

@Suite("coffer restore --only", .serialized)
struct RestoreOnlyTests {
    /// SQLite `app` and the env file `app.env`, snapshotted, then both changed.
    private func withTwoTargets(_ body: (Workspace) throws -> Void) throws {
        try Workspace.withSQLiteApp { ws in
            try ws.appendConfig("[env]\ninclude = [\"API_KEY\"]\nfile = \"app.env\"\n")
            try ws.write("app.env", Array("API_KEY=original\n".utf8))
            try #require(try ws.coffer("snapshot").status == 0)
            try #require(try ws.run("sqlite3", ["app.db", "DELETE FROM t"]).status == 0)
            try ws.write("app.env", Array("API_KEY=changed\n".utf8))
            try body(ws)
        }
    }

    private func count(_ ws: Workspace) throws -> String { try ws.run("sqlite3", ["app.db", "SELECT count(*) FROM t"]).stdout }

    @Test("--only app restores that artifact alone; the env file is not touched and the journal names only app")
    func one() throws {
        try withTwoTargets { ws in
            let restore = try ws.coffer("restore", "latest", "--yes", "--only", "app", "--json")
            #expect(restore.status == 0, "\(restore.stderr)")
            #expect(try count(ws) == "3\n")
            #expect(try ws.read("app.env") == Array("API_KEY=changed\n".utf8))
            let journal = try restoreJournal(ws)
            #expect(Set(steps(journal).keys) == ["app"])
        }
    }

    @Test("--only with a name the bundle does not hold is refused before anything changes, naming what it holds")
    func unknownName() throws {
        try withTwoTargets { ws in
            let restore = try ws.coffer("restore", "latest", "--yes", "--only", "app,nope")
            #expect(restore.status == 3 && restore.stderr.contains("nope") && restore.stderr.contains("app, env"), "\(restore.stderr)")
            #expect(try count(ws) == "0\n")
        }
    }

    @Test("--only app,env is still all or nothing: the env commit failing (an immutable file) puts app back")
    func allOrNothingAmongNamed() throws {
        try withTwoTargets { ws in
            try #require(try ws.run("chattr", ["+i", "app.env"]).status == 0, "chattr +i needs a file system with attributes (ext4)")
            defer { _ = try? ws.run("chattr", ["-i", "app.env"]) }
            let restore = try ws.coffer("restore", "latest", "--yes", "--only", "app,env")
            #expect(restore.status == 1 && restore.stderr.contains("every target was put back"), "\(restore.stderr)")
            #expect(try count(ws) == "0\n")
        }
    }
}

@Suite("hooks around a rollback")
struct RollbackHookTests {
    @Test("rollback runs pre_restore before it changes anything and post_restore after, as a restore does")
    func hooks() throws {
        try Workspace.withSQLiteApp { ws in
            try ws.appendConfig(
                "[hooks]\npre_restore = \"echo pre >> hooks.log\"\npost_restore = \"sqlite3 app.db 'SELECT count(*) FROM t' >> hooks.log\"\n")
            try #require(try ws.coffer("snapshot").status == 0)
            try #require(try ws.run("sqlite3", ["app.db", "DELETE FROM t"]).status == 0)
            let restore = try ws.coffer("restore", "latest", "--yes", "--json")
            try #require(restore.status == 0, "\(restore.stderr)")
            let id = try #require(try jsonObject(restore)["restore_id"] as? String)
            try ws.write("hooks.log", [])
            #expect(try ws.coffer("rollback", id).status == 0)
            // post_restore saw the rolled-back content (0 rows), after pre_restore.
            #expect(String(decoding: try ws.read("hooks.log"), as: UTF8.self) == "pre\n0\n")
        }
    }
}
