import Foundation
import Testing

/// `coffer drill` against the real servers of `make test`: scratch targets
/// only, signed reports, measured RTO and RPO, and nothing left behind.
@Suite("coffer drill: restore drills into scratch targets", .serialized)
struct DrillTests {
    func json(_ result: CommandResult) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "not JSON: \(result.stdout) \(result.stderr)")
    }

    func reports(_ ws: Workspace, _ folder: String = "backups/drills/development") -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: ws.path(folder))) ?? []).sorted()
    }

    /// Scratch databases, throwaway servers and records a drill may leave.
    func expectNothingLeft(_ ws: Workspace, postgres: PostgresServer? = nil, _ comment: Comment? = nil) throws {
        let drills = ws.path(".coffer/drills")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: drills)) ?? []).isEmpty, comment)
        let servers = try ws.run("pgrep", ["-f", drills]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(servers.isEmpty, "a throwaway redis-server still runs: \(servers)")
        if let postgres { #expect(try postgres.databases(ws, containing: "coffer_drill_").isEmpty, comment) }
    }

    @Test("all four kinds from S3: random pick with a fixed seed picks the same bundle again; the smoke command sees only scratch targets, even when it writes; the report verifies with minisign; the live targets are byte-identical afterwards")
    func allKindsFromS3() throws {
        let postgres = try PostgresServer.require()
        let redis = try RedisServer()
        try withS3Project { ws, s3, prefix in
            let database = "drill_" + UUID().uuidString.prefix(8).lowercased()
            try postgres.psql(ws, "postgres", "CREATE DATABASE \(database)")
            defer { _ = try? postgres.psql(ws, "postgres", "DROP DATABASE IF EXISTS \(database) WITH (FORCE)") }
            try postgres.psql(ws, database, applicationSchema)
            redis.populate()
            try ws.appendConfig(
                """
                [[postgres]]
                name = "main"
                url_env = "APP_DATABASE"

                [[redis]]
                name = "cache"
                url_env = "APP_REDIS"

                [[files]]
                name = "uploads"
                path = "uploads"
                """)
            try FileManager.default.createDirectory(atPath: ws.path("uploads/2026"), withIntermediateDirectories: true)
            try ws.write("uploads/2026/a.bin", randomBytes(5000))
            try ws.write("uploads/readme.txt", Array("hello".utf8))
            let env = s3.credentials.merging(["APP_DATABASE": postgres.url(database), "APP_REDIS": redis.url]) { $1 }
            for _ in 0..<3 { try #require(try ws.coffer("snapshot", environment: env).status == 0) }
            let liveSQLite = try ws.read("data/app.db")
            let liveDump = try postgres.dump(ws, database)
            let liveRedis = redis.digest()
            let liveEnv = try ws.read("app.env")
            let liveUploads = try ws.run("tar", ["-cf", "-", "uploads"]).stdout

            // The smoke command writes into every scratch target and reports what it saw.
            let smoke = """
                set -e
                sqlite3 "$SQLITE_PATH_APP" "INSERT INTO t VALUES (zeroblob(10)); SELECT 'sqlite rows ' || count(*) FROM t"
                psql -X -q -A -t -d "$DATABASE_URL" -c "INSERT INTO \\"Mixed Case\\" VALUES (99)" -c "SELECT 'pg accounts ' || count(*) FROM accounts"
                [ "$DATABASE_URL" = "$DATABASE_URL_MAIN" ] && [ "$APP_DATABASE" = "$DATABASE_URL" ]
                socket=${REDIS_URL#unix://}
                [ "$APP_REDIS" = "$REDIS_URL" ] && [ "$REDIS_URL_CACHE" = "$REDIS_URL" ]
                redis-cli -s "$socket" SET written-by-smoke 1 >/dev/null
                echo "redis keys $(redis-cli -s "$socket" DBSIZE)"
                grep -c JWT_SECRET_KEY "$COFFER_DRILL_ENV_FILE" | sed 's/^/env lines /'
                echo "url $DATABASE_URL"
                cat "$FILES_PATH_UPLOADS/readme.txt"; echo; echo changed > "$FILES_PATH_UPLOADS/readme.txt"
                """
            let first = try ws.coffer("drill", "--pick", "random", "--seed", "7", "--smoke", smoke, "--json", environment: env)
            #expect(first.status == 0, "\(first.stdout) \(first.stderr)")
            let report = try json(first)
            #expect(report["passed"] as? Bool == true)
            let bundle = try #require(report["bundle"] as? String)
            #expect((report["pick"] as? [String: Any])?["seed"] as? UInt64 == 7)
            #expect((report["pick"] as? [String: Any])?["candidates"] as? Int == 3)
            #expect((report["phases"] as? [[String: Any]])?.map { $0["name"] as? String } == ["fetch", "verify", "decrypt_and_stage", "checks", "smoke"])
            let phases = try #require(report["phases"] as? [[String: Any]])
            let sum = phases.compactMap { $0["seconds"] as? Double }.reduce(0, +)
            #expect(abs((report["rto_seconds"] as? Double ?? -1) - sum) < 0.001)
            #expect(report["rpo_seconds"] is Double)
            let checks = try #require(report["checks"] as? [[String: Any]])
            #expect(Set(checks.compactMap { $0["artifact"] as? String }) == ["app", "env", "main", "cache", "uploads"])
            #expect(checks.allSatisfy { $0["ok"] as? Bool == true })
            let lines = try #require((report["smoke"] as? [String: Any])?["last_lines"] as? [String])
            #expect(lines.contains("sqlite rows 4"))
            #expect(lines.contains("pg accounts 300"))
            #expect(lines.contains("env lines 1"))
            #expect(lines.contains("hello"))
            #expect(lines.contains { $0.hasPrefix("redis keys ") })
            #expect(lines.contains("url [secret]"), "the scratch URL with its password is kept out of the report: \(lines)")
            #expect(!first.stdout.contains(postgres.password))

            // The same seed over the same bundles picks the same bundle.
            let again = try json(try ws.coffer("drill", "--pick", "random", "--seed", "7", "--json", environment: env))
            #expect(again["bundle"] as? String == bundle)
            #expect(again["passed"] as? Bool == true)

            // The reports are in the S3 repository, signed: minisign verifies the JSON.
            let id = try #require(report["id"] as? String)
            let fetched = ws.path("fetched")
            let copied = try ws.run(
                s3.aws, ["--endpoint-url", s3.endpoint, "s3", "cp", "--recursive", "s3://\(s3.bucket)/\(prefix)/drills/development", fetched],
                environment: env)
            #expect(copied.status == 0, "\(copied.stderr)")
            #expect(try ws.run("minisign", ["-Vm", "\(fetched)/\(id).json", "-p", "keys/signing.pub"]).status == 0)
            #expect(try String(contentsOfFile: "\(fetched)/\(id).md", encoding: .utf8).contains("# Restore drill \(id): PASSED"))

            // Nothing live changed, nothing scratch is left.
            #expect(try ws.read("data/app.db") == liveSQLite)
            #expect(try postgres.dump(ws, database) == liveDump)
            #expect(redis.digest() == liveRedis)
            #expect(try ws.read("app.env") == liveEnv)
            #expect(try ws.run("tar", ["-cf", "-", "uploads"]).stdout == liveUploads)
            #expect(try ws.read("uploads/readme.txt") == Array("hello".utf8))
            try expectNothingLeft(ws, postgres: postgres)

            let history = try json(try ws.coffer("drill", "--history", "--json", environment: env))
            #expect((history["drills"] as? [[String: Any]])?.count == 2)
            #expect((history["drills"] as? [[String: Any]])?.allSatisfy { $0["trusted"] as? Bool == true } == true)
            let audit = try ws.coffer("audit", "--json", environment: env)
            #expect(audit.status == 0, "\(audit.stdout)")
            #expect(try json(audit)["drill_reports"] as? Int == 2)
        }
    }

    @Test("RTO and RPO against [targets]: the newest bundle's age (COFFER_NOW) and the phases' sum pass or fail the drill")
    func objectives() throws {
        try Workspace.withSQLiteApp { ws in
            let start = Date()
            try #require(try ws.coffer("snapshot", environment: clock(start, days: 0)).status == 0)
            let later = clock(start, days: 2.0 / 24)  // two hours on
            try ws.appendConfig("[targets]\nrpo = \"1h\"\nrto = \"4h\"\n")
            let late = try ws.coffer("drill", "--json", environment: later)
            #expect(late.status == 1)
            let report = try json(late)
            #expect(report["passed"] as? Bool == false)
            #expect(report["rpo_passed"] as? Bool == false)
            #expect(report["rto_passed"] as? Bool == true)
            #expect(abs((report["rpo_seconds"] as? Double ?? 0) - 7200) < 5)
            #expect((report["failure"] as? String)?.contains("RPO") == true)

            try ws.appendConfig("")
            var config = try String(contentsOfFile: ws.config, encoding: .utf8)
            config = config.replacingOccurrences(of: "rpo = \"1h\"", with: "rpo = \"3h\"")
            try config.write(toFile: ws.config, atomically: true, encoding: .utf8)
            let inTime = try ws.coffer("drill", "--json", environment: later)
            #expect(inTime.status == 0, "\(inTime.stdout)")
            #expect(try json(inTime)["rpo_passed"] as? Bool == true)

            config = config.replacingOccurrences(of: "rto = \"4h\"", with: "rto = \"0s\"")
            try config.write(toFile: ws.config, atomically: true, encoding: .utf8)
            let slow = try ws.coffer("drill", "--json", environment: later)
            #expect(slow.status == 1)
            #expect(try json(slow)["rto_passed"] as? Bool == false)
            #expect(reports(ws).filter { $0.hasSuffix(".json") }.count == 3)

            // status: the last drill failed; a passing one 91 days old is too old.
            let status = try ws.coffer("status", environment: later)
            #expect(status.status == 1)
            #expect(status.stdout.contains("the last restore drill"))
            config = config.replacingOccurrences(of: "rto = \"0s\"", with: "rto = \"4h\"").replacingOccurrences(of: "rpo = \"3h\"", with: "rpo = \"1000d\"")
            try config.write(toFile: ws.config, atomically: true, encoding: .utf8)
            #expect(try ws.coffer("drill", environment: later).status == 0)
            #expect(try ws.coffer("status", environment: clock(start, days: 5)).stdout.contains("last drill: "))
            let old = try ws.coffer("status", environment: clock(start, days: 92))
            #expect(old.stdout.contains("days old (more than 90)"), "\(old.stdout)")
        }
    }

    @Test("a damaged bundle: the drill fails naming the object, exit 5, the failed report is stored and signed, a webhook hears drill-failed, status warns")
    func damagedBundle() throws {
        let receiver = try NotifyReceiver()
        try Workspace.withSQLiteApp { ws in
            try ws.pinFormatOne()
            try ws.appendConfig(
                """
                [[notify]]
                name = "hook"
                kind = "webhook"
                url_env = "T_HOOK"
                events = ["drill-failed"]
                """)
            let env = ["T_HOOK": receiver.url("/hook")]
            try #require(try ws.coffer("snapshot", environment: env).status == 0)
            let bundles = ws.path("backups/bundles/development")
            let id = try #require(try FileManager.default.contentsOfDirectory(atPath: bundles).sorted().last)
            let payload = "\(bundles)/\(id)/artifacts/app.sqlite.gz.age-payload"
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: payload)))
            bytes[bytes.count / 2] ^= 0xFF
            try Data(bytes).write(to: URL(fileURLWithPath: payload))

            let live = try ws.read("app.db")
            let drill = try ws.coffer("drill", "--json", environment: env)
            #expect(drill.status == 5, "\(drill.stdout) \(drill.stderr)")
            #expect(drill.stderr.contains("failed:"), "a clear error on standard error: \(drill.stderr)")
            #expect(try ws.read("app.db") == live, "the live database is untouched")
            let report = try json(drill)
            #expect(report["passed"] as? Bool == false)
            #expect((report["failure"] as? String)?.contains("app.sqlite.gz.age-payload") == true, "\(report["failure"] ?? "")")
            #expect((report["phases"] as? [[String: Any]])?.last?["name"] as? String == "fetch")
            let stored = try #require(report["report"] as? String)
            #expect(try ws.run("minisign", ["-Vm", "backups/\(stored)", "-p", "keys/signing.pub"]).status == 0)
            #expect(receiver.requests(to: "/hook").contains { ($0.json["event"] as? String) == "drill-failed" })
            let status = try ws.coffer("status", environment: env)
            #expect(status.status == 1)
            #expect(status.stdout.contains("failed"))
            try expectNothingLeft(ws)
        }
    }

    @Test("no bundle in the window, an unknown --pick, a smoke command that fails, and one that hangs (killed with its process group after --smoke-timeout)")
    func badInputAndSmoke() throws {
        try Workspace.withSQLiteApp { ws in
            let empty = try ws.coffer("drill")
            #expect(empty.status == 1)
            #expect(empty.stdout.contains("there is no bundle of development to drill") || empty.stderr.contains("there is no bundle"))
            #expect(try ws.coffer("drill", "--pick", "oldest").status == 64)

            let start = Date()
            try #require(try ws.coffer("snapshot", environment: clock(start, days: 0)).status == 0)
            let outside = try ws.coffer("drill", "--pick", "random", "--within", "1d", "--json", environment: clock(start, days: 3))
            #expect(outside.status == 1)
            #expect((try json(outside)["failure"] as? String)?.contains("no bundle of development in the last 24h") == true)

            let live = try ws.read("app.db")
            let failing = try ws.coffer("drill", "--smoke", "echo checking; echo broken >&2; exit 3", "--json")
            #expect(failing.status == 1)
            let smoke = try #require(try json(failing)["smoke"] as? [String: Any])
            #expect(smoke["exit_status"] as? Int == 3)
            #expect(smoke["last_lines"] as? [String] == ["checking", "broken"])

            let pids = ws.path("smoke-pids")
            let hanging = try ws.coffer(
                "drill", "--smoke", "echo $$ > \(pids); sleep 300 & echo $! >> \(pids); wait", "--smoke-timeout", "1s", "--json")
            #expect(hanging.status == 1)
            let killed = try #require(try json(hanging)["smoke"] as? [String: Any])
            #expect(killed["timed_out"] as? Bool == true)
            let started = try String(contentsOfFile: pids, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
            #expect(started.count == 2)
            for pid in started { #expect(!isRunning(pid), "smoke process \(pid) outlived the timeout") }
            #expect(try ws.read("app.db") == live, "failing and hanging smoke commands leave the live database untouched")
            try expectNothingLeft(ws)

            // A drill whose evidence cannot be stored did not prove anything: exit 1.
            try FileManager.default.removeItem(atPath: ws.path("backups/drills"))
            try Data("not a folder".utf8).write(to: URL(fileURLWithPath: ws.path("backups/drills")))
            let unstored = try ws.coffer("drill")
            #expect(unstored.status == 1, "\(unstored.stdout) \(unstored.stderr)")
            #expect(unstored.stderr.contains("could not be stored"))
        }
    }

    @Test("scratch servers: a role without CREATEDB names [drill] postgres_url_env, a drill server makes it pass; no redis-server program is a clear error")
    func scratchServers() throws {
        let postgres = try PostgresServer.require()
        try Workspace.with { ws in
            try postgres.withOwnedDatabase(ws, "drillapp_" + UUID().uuidString.prefix(6).lowercased(), role: "") { name, env in
                try "environment = \"development\"\nrepository = \"backups\"\nkeys = \"keys\"\n[[postgres]]\nname = \"main\"\n".write(
                    toFile: ws.config, atomically: true, encoding: .utf8)
                try #require(try ws.coffer("snapshot", environment: env).status == 0)
                let liveDump = try postgres.dump(ws, name)
                let refused = try ws.coffer("drill", environment: env)
                #expect(refused.status == 1)
                #expect(try postgres.dump(ws, name) == liveDump)
                #expect(refused.stderr.contains("[drill] postgres_url_env"), "\(refused.stderr)")
                try ws.appendConfig("[drill]\npostgres_url_env = \"DRILL_PG\"\n")
                let drillEnv = env.merging(["DRILL_PG": postgres.url("postgres")]) { $1 }
                let passed = try ws.coffer("drill", "--smoke", "psql -X -A -t -d \"$DATABASE_URL\" -c 'SELECT count(*) FROM orders'", "--json", environment: drillEnv)
                #expect(passed.status == 0, "\(passed.stdout) \(passed.stderr)")
                #expect((try json(passed)["smoke"] as? [String: Any])?["last_lines"] as? [String] == ["2000"])
                try expectNothingLeft(ws, postgres: postgres)
            }
        }
        let redis = try RedisServer()
        try withRedisProject { ws in
            let env = ["REDIS_URL": redis.url]
            redis.populate()
            try #require(try ws.coffer("snapshot", environment: env).status == 0)
            try ws.appendConfig("[drill]\nredis_server = \"/nonexistent/redis-server\"\n")
            let missing = try ws.coffer("drill", environment: env)
            #expect(missing.status == 3)
            #expect(missing.stderr.contains("apt install redis-server"), "\(missing.stderr)")
            try expectNothingLeft(ws)
        }
    }

    @Test("kill -9 after each phase: status names what was left, the next drill removes it, nothing scratch survives")
    func killedAtEachPhase() throws {
        let postgres = try PostgresServer.require()
        let redis = try RedisServer()
        redis.populate()
        try Workspace.withSQLiteApp { ws in
            let database = "drillkill_" + UUID().uuidString.prefix(8).lowercased()
            try postgres.psql(ws, "postgres", "CREATE DATABASE \(database)")
            defer { _ = try? postgres.psql(ws, "postgres", "DROP DATABASE IF EXISTS \(database) WITH (FORCE)") }
            try postgres.psql(ws, database, "CREATE TABLE k(x int); INSERT INTO k VALUES (1)")
            try ws.appendConfig("[[postgres]]\nname = \"db\"\n[[redis]]\nname = \"cache\"\n")
            let env = ["DATABASE_URL": postgres.url(database), "REDIS_URL": redis.url]
            try #require(try ws.coffer("snapshot", environment: env).status == 0)
            let (liveSQLite, liveDump, liveRedis) = (try ws.read("app.db"), try postgres.dump(ws, database), redis.digest())
            defer {
                #expect((try? ws.read("app.db")) == liveSQLite, "the live SQLite database is untouched")
                #expect((try? postgres.dump(ws, database)) == liveDump, "the live PostgreSQL database is untouched")
                #expect(redis.digest() == liveRedis, "the live Redis server is untouched")
            }
            for phase in ["fetch", "verify", "decrypt_and_stage", "checks", "smoke"] {
                let killed = try ws.coffer("drill", "--smoke", "true", environment: env.merging(["COFFER_FAULT": "drill-after-\(phase)"]) { $1 })
                #expect(killed.status == 137, "\(phase): \(killed.stderr)")
                let status = try ws.coffer("status", environment: env)
                #expect(status.stdout.contains("was interrupted and left"), "\(phase): \(status.stdout)")
                if !["fetch", "verify"].contains(phase) {
                    #expect(!(try postgres.databases(ws, containing: "coffer_drill_").isEmpty), "\(phase): the scratch database is there until cleaned")
                }
                let next = try ws.coffer("drill", environment: env)
                #expect(next.status == 0, "\(phase): \(next.stdout) \(next.stderr)")
                #expect(next.stderr.contains("removed what an interrupted drill left"))
                try expectNothingLeft(ws, postgres: postgres, "after a kill at \(phase)")
            }
            #expect(try ws.coffer("drill", "--smoke", "true", environment: env.merging(["COFFER_FAULT": "drill-after-checks"]) { $1 }).status == 137)
            let cleanup = try ws.coffer("drill", "--cleanup", environment: env)
            #expect(cleanup.status == 0)
            #expect(cleanup.stdout.contains("throwaway redis-server"))
            try expectNothingLeft(ws, postgres: postgres)
            #expect(try ws.coffer("status", environment: env).status == 0)
        }
    }

    @Test("--from offsite: the bundle is fetched from the [offsite] repository (the main one's copy may be damaged), the report goes to the main repository")
    func fromOffsite() throws {
        try Workspace.withSQLiteApp { ws in
            try ws.pinFormatOne()
            try ws.appendConfig("[offsite]\nrepository = \"offsite\"\n")
            try #require(try ws.coffer("snapshot").status == 0)
            try #require(try ws.coffer("copy", "--all", "--to", ws.path("offsite")).status == 0)
            let bundles = ws.path("backups/bundles/development")
            let id = try #require(try FileManager.default.contentsOfDirectory(atPath: bundles).sorted().last)
            try Data([0x00]).write(to: URL(fileURLWithPath: "\(bundles)/\(id)/artifacts/app.sqlite.gz.age-payload"))
            #expect(try ws.coffer("drill").status == 5)
            let drill = try ws.coffer("drill", "--from", "offsite", "--json")
            #expect(drill.status == 0, "\(drill.stdout) \(drill.stderr)")
            let report = try json(drill)
            #expect(report["repository"] as? String == ws.path("offsite"))
            #expect(reports(ws).filter { $0.hasSuffix(".json") }.count == 2)
            #expect(try ws.coffer("drill", "--from", "elsewhere").status == 64)
        }
    }

    @Test("a report edited after signing: drill --history says untrusted (exit 5) and audit fails naming it; a deleted report the journal names fails audit")
    func tamperedReports() throws {
        try Workspace.withSQLiteApp { ws in
            try #require(try ws.coffer("snapshot").status == 0)
            try #require(try ws.coffer("drill").status == 0)
            try #require(try ws.coffer("drill").status == 0)
            let names = reports(ws).filter { $0.hasSuffix(".json") }
            try #require(names.count == 2)
            let edited = "backups/drills/development/\(names[0])"
            let text = try String(contentsOfFile: ws.path(edited), encoding: .utf8).replacingOccurrences(of: "\"passed\" : true", with: "\"passed\" : false")
            try text.write(toFile: ws.path(edited), atomically: true, encoding: .utf8)
            let history = try ws.coffer("drill", "--history")
            #expect(history.status == 5)
            #expect(history.stdout.contains("UNTRUSTED"))
            let audit = try ws.coffer("audit")
            #expect(audit.status != 0)
            #expect(audit.stdout.contains("drill report \(names[0].dropLast(5))"), "\(audit.stdout)")
            try FileManager.default.removeItem(atPath: ws.path(edited))
            let gone = try ws.coffer("audit")
            #expect(gone.stdout.contains("is recorded in the journal"), "\(gone.stdout)")
        }
    }
}

/// True while `pid` runs; a zombie (killed, not yet reaped by an init that may never reap it) is not running.
func isRunning(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
    return !stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
}
