import Foundation
import Testing

/// A project with four targets — SQLite `app`, PostgreSQL `main`, Redis
/// `cache`, env `env` (in that commit order) — whose PostgreSQL and Redis are
/// reached through fault proxies. A pre_restore hook arms the proxies' rules
/// once every artifact is staged, so a fault hits the commit and nothing before.
/// `bundle` is what every target held at the snapshot, `previous` what it
/// holds before each restore.
private final class FourTargets {
    let ws: Workspace
    let pg: PostgresServer
    let database: String
    let redis: RedisServer
    let pgProxy: TCPFaultProxy
    let redisProxy: TCPFaultProxy
    let environment: [String: String]
    var bundle: [String: String] = [:]
    var previous: [String: String] = [:]
    /// `--in-place` when the role may not create databases.
    var restoreFlags: [String] = []

    init(_ ws: Workspace, pg: PostgresServer, database: String, redis: RedisServer, environment: [String: String], pgProxy: TCPFaultProxy, redisProxy: TCPFaultProxy) {
        self.ws = ws
        self.pg = pg
        self.database = database
        self.redis = redis
        self.environment = environment
        self.pgProxy = pgProxy
        self.redisProxy = redisProxy
    }

    /// What each target holds, read straight from it (not through the proxies).
    func contents() throws -> [String: String] {
        let env = String(decoding: try ws.read("app.env"), as: UTF8.self).split(separator: "\n").filter { $0.contains("API_KEY") }
        return [
            "app": try ws.run("sqlite3", ["app.db", ".dump"]).stdout,
            "main": try pg.dump(ws, database),
            "cache": redis.digest(),
            "env": env.map { $0.replacingOccurrences(of: "\"", with: "") }.joined(separator: "\n"),
        ]
    }

    /// Changes every target away from the bundle (the "previous" content of the next restore).
    func change() throws {
        try #require(try ws.run("sqlite3", ["app.db", "UPDATE t SET x = x + 100"]).status == 0)
        try pg.psql(ws, database, "UPDATE accounts SET name = 'changed' WHERE id = 1")
        redis.cli("-n", "0", "SET", "d0:str", "changed")
        try ws.write("app.env", Array("API_KEY=changed\nOTHER=1\n".utf8))
        previous = try contents()
        try #require(previous.allSatisfy { bundle[$0.key] != $0.value }, "every target must differ from the bundle")
    }

    /// The rules the pre_restore hook puts into the proxies for the next restore.
    func arm(pg: String = "{}", redis: String = "{}") throws {
        try pg.write(toFile: ws.path("pg-rules.json"), atomically: true, encoding: .utf8)
        try redis.write(toFile: ws.path("redis-rules.json"), atomically: true, encoding: .utf8)
    }

    /// `coffer restore latest --yes --json` (with `--in-place` where set up so).
    func restore() throws -> CommandResult { try run(["restore", "latest", "--yes", "--json"] + restoreFlags) }

    func coffer(_ arguments: String..., fault: String? = nil) throws -> CommandResult { try run(arguments, fault: fault) }

    private func run(_ arguments: [String], fault: String? = nil) throws -> CommandResult {
        let environment = fault.map { self.environment.merging(["COFFER_FAULT": $0]) { $1 } } ?? self.environment
        return try ws.run(cofferBinary, ["--config", ws.config] + arguments, environment: environment)
    }

    /// Staging databases, Redis databases holding keys: what a failed restore must not leave behind.
    func leftovers() throws -> (databases: [String], redis: [String]) {
        (try kept() + pg.databases(ws, containing: database + "__coffer_"), redis.nonEmptyDatabases())
    }

    /// This test's kept PostgreSQL databases (`DB__pre_ID`).
    func kept() throws -> [String] {
        try pg.databases(ws, containing: database + "__pre_")
    }
}

/// `inPlace`: the database belongs to a role without CREATEDB, restored `--in-place`.
private func withFourTargets(inPlace: Bool = false, _ body: (FourTargets) throws -> Void) throws {
    let pg = try PostgresServer.require()
    let redis = try RedisServer()
    redis.populate()
    let pgProxy = try TCPFaultProxy(upstream: "\(pg.host):\(pg.port)")
    let redisProxy = try TCPFaultProxy(upstream: "127.0.0.1:\(redis.port)")
    try Workspace.with { ws in
        let database = "state_" + UUID().uuidString.prefix(8).lowercased()
        if inPlace {
            try pg.withOwnedDatabase(ws, database, role: "NOCREATEDB") { _, _ in
                try fill(ws, pg: pg, database: database, login: ("owner_" + database, "pw-" + database), redis: redis, pgProxy: pgProxy, redisProxy: redisProxy, inPlace: true, body)
            }
        } else {
            try pg.psql(ws, "postgres", "CREATE DATABASE \(database)")
            defer { _ = try? pg.psql(ws, "postgres", "DROP DATABASE IF EXISTS \(database) WITH (FORCE)") }
            try pg.psql(ws, database, applicationSchema)
            try fill(ws, pg: pg, database: database, login: (pg.user, pg.password), redis: redis, pgProxy: pgProxy, redisProxy: redisProxy, inPlace: false, body)
        }
    }
}

/// The config, the other targets, the snapshot and the change, for `withFourTargets`.
private func fill(
    _ ws: Workspace, pg: PostgresServer, database: String, login: (String, String), redis: RedisServer, pgProxy: TCPFaultProxy, redisProxy: TCPFaultProxy,
    inPlace: Bool, _ body: (FourTargets) throws -> Void
) throws {
    let hook = "[hooks]\npre_restore = \"cp pg-rules.json '\(pgProxy.control)' && cp redis-rules.json '\(redisProxy.control)'\"\n"
    try fourTargetConfig(environment: "development", envFile: "app.env", extra: hook).write(toFile: ws.config, atomically: true, encoding: .utf8)
    try #require(try ws.run("sqlite3", ["app.db", "CREATE TABLE t(x); INSERT INTO t VALUES (1),(2),(3);"]).status == 0)
    try ws.write("app.env", Array("API_KEY=original\nOTHER=1\n".utf8))
    let environment = [
        "DATABASE_URL": "postgresql://\(login.0):\(login.1)@127.0.0.1:\(pgProxy.port)/\(database)",
        "REDIS_URL": "redis://:\(redis.password)@127.0.0.1:\(redisProxy.port)",
    ]
    let project = FourTargets(ws, pg: pg, database: database, redis: redis, environment: environment, pgProxy: pgProxy, redisProxy: redisProxy)
    project.restoreFlags = inPlace ? ["--in-place"] : []
    let snapshot = try project.coffer("snapshot")
    try #require(snapshot.status == 0, "\(snapshot.stderr)")
    project.bundle = try project.contents()
    try project.arm()
    try project.change()
    try body(project)
}

@Suite("restore state machine: ambiguous failures against real PostgreSQL, Redis, SQLite and env targets", .serialized)
struct RestoreStateTests {
    @Test(
        "the answer to the commit is lost after the change happened: the target is asked, says it holds the bundle, and the restore goes on",
        arguments: [("main", "COMMIT"), ("cache", "EXEC\r\n")])
    func answerLost(target: String, command: String) throws {
        try withFourTargets { project in
            let rule = "{\"lose_answer\": \(String(decoding: try JSONEncoder().encode(command), as: UTF8.self))}"
            try target == "main" ? project.arm(pg: rule) : project.arm(redis: rule)
            let restore = try project.restore()
            #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
            #expect(restore.stderr.contains("answer was lost"), "\(restore.stderr)")
            let proxy = target == "main" ? project.pgProxy : project.redisProxy
            #expect(proxy.events.contains { $0.hasPrefix("lose_answer") }, "the fault never fired: \(proxy.events)")
            #expect(try project.contents() == project.bundle)
            #expect(Set(holdings(try jsonObject(restore)).values) == ["bundle"])
            #expect(try restoreJournal(project.ws)["state"] as? String == "committed")
        }
    }

    @Test(
        "the connection is cut before the commit reaches the server: the target says it holds its previous content, and every target is put back",
        arguments: [("main", "COMMIT"), ("cache", "EXEC\r\n")])
    func cutBeforeCommit(target: String, command: String) throws {
        try withFourTargets { project in
            let before = try project.leftovers()
            let rule = "{\"cut_before\": \(String(decoding: try JSONEncoder().encode(command), as: UTF8.self))}"
            try target == "main" ? project.arm(pg: rule) : project.arm(redis: rule)
            let restore = try project.restore()
            #expect(restore.status == 1, "\(restore.stdout)\(restore.stderr)")
            #expect(restore.stderr.contains("every target was put back, nothing changed"), "\(restore.stderr)")
            let proxy = target == "main" ? project.pgProxy : project.redisProxy
            #expect(proxy.events.contains { $0.hasPrefix("cut_before") }, "the fault never fired: \(proxy.events)")
            #expect(try project.contents() == project.previous)
            let answer = try jsonObject(restore)
            #expect(answer["state"] as? String == "failed")
            #expect(Set(holdings(answer).values) == ["previous"], "\(answer)")
            #expect(try project.leftovers() == before, "a staging or kept copy was left behind")
        }
    }

    @Test("undo failing for one target of three (PostgreSQL down after its commit, Redis cut): the others are put back, the message says which holds what, and --recover finishes once the server is back")
    func undoFailsForOne() throws {
        try withFourTargets { project in
            try project.arm(pg: "{\"down_after_connections\": 1}", redis: "{\"cut_before\": \"EXEC\\r\\n\"}")
            let restore = try project.restore()
            #expect(restore.status == 1, "\(restore.stdout)\(restore.stderr)")
            #expect(restore.stderr.contains("could not put everything back") && restore.stderr.contains("main"), "\(restore.stderr)")
            let answer = try jsonObject(restore)
            #expect(answer["state"] as? String == "undoing")
            #expect(holdings(answer) == ["app": "previous", "main": "unknown", "cache": "previous", "env": "previous"], "\(answer)")
            // The truth, read directly: PostgreSQL holds the bundle (its commit happened), the rest their previous content.
            let now = try project.contents()
            #expect(now["main"] == project.bundle["main"])
            #expect(now["app"] == project.previous["app"] && now["cache"] == project.previous["cache"] && now["env"] == project.previous["env"])
            #expect(try project.kept().count == 1, "the kept database must stay while it is the only copy")

            let status = try project.coffer("status")
            #expect(status.status == 2 && status.stdout.contains("interrupted"), "\(status.stdout)\(status.stderr)")
            let another = try project.coffer("restore", "latest", "--yes")
            #expect(another.status == 6 && another.stderr.contains("--recover"), "\(another.stderr)")

            try project.pgProxy.set("{}")
            let recovered = try project.coffer("restore", "--recover")
            #expect(recovered.status == 0, "\(recovered.stdout)\(recovered.stderr)")
            #expect(try project.contents() == project.previous)
            #expect(try restoreJournal(project.ws)["state"] as? String == "failed")
            #expect(try project.leftovers().databases.isEmpty)
        }
    }

    @Test("rollback is journaled: killed after each target it undid, status says so, and --recover finishes it (never a mix)")
    func rollbackKilledAtEachStep() throws {
        try withFourTargets { project in
            for step in 1...4 {
                let restore = try project.restore()
                try #require(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
                #expect(try project.contents() == project.bundle)
                let id = try #require(try jsonObject(restore)["restore_id"] as? String)
                let killed = try project.coffer("rollback", id, fault: "rollback-after-\(step)")
                #expect(killed.status != 0)
                let journal = try restoreJournal(project.ws)
                #expect(journal["state"] as? String == "rolling-back")
                // The targets are undone newest first: those at or after `step` hold their previous content.
                let undone = Set(steps(journal).filter { $0.value == "undone" }.keys)
                #expect(undone == Set(["app", "main", "cache", "env"].suffix(5 - step)), "\(steps(journal))")
                let now = try project.contents()
                for (name, content) in now { #expect(content == (undone.contains(name) ? project.previous[name] : project.bundle[name]), "\(name)") }
                let status = try project.coffer("status")
                #expect(status.status == 2 && status.stdout.contains("rolling-back"), "\(status.stdout)")

                let recovered = try project.coffer("restore", "--recover")
                #expect(recovered.status == 0 && recovered.stdout.contains("finished the interrupted rollback"), "\(recovered.stdout)\(recovered.stderr)")
                #expect(try project.contents() == project.previous)
                #expect(try restoreJournal(project.ws)["state"] as? String == "rolled-back")
                #expect(try project.coffer("restore", "--finalize", id).status == 0)
            }
        }
    }

    @Test("--in-place commits last: a later target in the config failing its commit leaves the database as it was")
    func inPlaceCommitsLast() throws {
        try withFourTargets(inPlace: true) { project in
            try project.arm(redis: "{\"cut_before\": \"EXEC\\r\\n\"}")
            let restore = try project.restore()
            #expect(restore.status == 1, "\(restore.stdout)\(restore.stderr)")
            #expect(restore.stderr.contains("every target was put back, nothing changed"), "\(restore.stderr)")
            #expect(try project.contents() == project.previous)
            let journal = try restoreJournal(project.ws)
            #expect((journal["targets"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["app", "cache", "env", "main"], "the in-place target must commit last")
            #expect(steps(journal)["main"] == "discarded")
        }
    }

    @Test("--in-place: the answer to psql's COMMIT is lost; txid_status of the recorded transaction says it committed, and the restore goes on")
    func inPlaceAnswerLost() throws {
        try withFourTargets(inPlace: true) { project in
            try project.arm(pg: "{\"lose_answer\": \"COMMIT\"}")
            let restore = try project.restore()
            #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
            #expect(restore.stderr.contains("answer was lost"), "\(restore.stderr)")
            #expect(project.pgProxy.events.contains { $0.hasPrefix("lose_answer") }, "\(project.pgProxy.events)")
            #expect(try project.contents() == project.bundle)
        }
    }

    @Test("--in-place: the connection cut before psql's COMMIT; txid_status says aborted, every target put back")
    func inPlaceCutBeforeCommit() throws {
        try withFourTargets(inPlace: true) { project in
            try project.arm(pg: "{\"cut_before\": \"COMMIT\"}")
            let restore = try project.restore()
            #expect(restore.status == 1, "\(restore.stdout)\(restore.stderr)")
            #expect(restore.stderr.contains("every target was put back, nothing changed"), "\(restore.stderr)")
            #expect(try project.contents() == project.previous)
        }
    }

    @Test("--in-place: the answer to COMMIT lost and the server gone before it can be asked: nothing is undone (that could leave a mix), and --recover asks once it is back")
    func inPlaceUnanswered() throws {
        try withFourTargets(inPlace: true) { project in
            // The commit's two connections (version check, psql) pass; every later one is refused.
            try project.arm(pg: "{\"lose_answer\": \"COMMIT\", \"down_after_connections\": 2}")
            let restore = try project.restore()
            #expect(restore.status == 1, "\(restore.stdout)\(restore.stderr)")
            #expect(restore.stderr.contains("cannot be asked whether its commit happened"), "\(restore.stderr)")
            let answer = try jsonObject(restore)
            #expect(answer["state"] as? String == "committing")
            #expect(holdings(answer) == ["app": "bundle", "cache": "bundle", "env": "bundle", "main": "unknown"], "\(answer)")
            #expect(try project.contents() == project.bundle, "the lost COMMIT did commit")

            try project.pgProxy.set("{}")
            let recovered = try project.coffer("restore", "--recover")
            #expect(recovered.status == 0 && recovered.stdout.contains("finished the interrupted commit"), "\(recovered.stdout)\(recovered.stderr)")
            #expect(try restoreJournal(project.ws)["state"] as? String == "committed")
            #expect(try project.contents() == project.bundle)
        }
    }
}
