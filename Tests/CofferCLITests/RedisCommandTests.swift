import Foundation
import Testing

let supportFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Support").standardized.path
let redisTool = supportFolder + "/redis_tool.py"

/// A real redis-server of its own (loopback, free port, a password, DEBUG
/// allowed for DIGEST-VALUE), configured through a file so the password is
/// not in its argv; killed and its folder removed afterwards.
final class RedisServer {
    let folder = NSTemporaryDirectory() + "coffer-redis-cli-" + UUID().uuidString
    let password = "pw-" + UUID().uuidString.prefix(12)
    private(set) var port = 0
    private var process: Process?

    init(settings: String = "") throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for _ in 0..<20 where port == 0 {
            let candidate = Int.random(in: 20_000...45_000)
            try """
                port \(candidate)
                bind 127.0.0.1
                requirepass \(password)
                dir \(folder)
                save ""
                appendonly no
                enable-debug-command yes
                repl-diskless-sync-delay 0
                \(settings)
                """.write(toFile: folder + "/redis.conf", atomically: true, encoding: .utf8)
            if try start() { port = candidate }
        }
        try #require(port != 0, "redis-server did not start (`make test` installs it)")
    }

    /// Starts redis-server on the config (again, after `stop`); true once it answers.
    @discardableResult
    func start() throws -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["redis-server", folder + "/redis.conf"]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        self.process = process
        let configured = (try String(contentsOfFile: folder + "/redis.conf", encoding: .utf8)).split(separator: "\n")[0].split(separator: " ")[1]
        for _ in 0..<100 {
            if cli(port: String(configured), "PING") == "PONG" { return true }
            if !process.isRunning { return false }
            usleep(50_000)
        }
        return false
    }

    func stop() {
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    var url: String { "redis://:\(password)@127.0.0.1:\(port)" }

    /// `redis-cli` with the password in its environment; its output, trimmed.
    @discardableResult
    func cli(port: String? = nil, _ arguments: String...) -> String {
        run("/usr/bin/redis-cli", ["-p", port ?? String(self.port)] + arguments)
    }

    /// Every key of `dbs` (type, TTL or not, DEBUG DIGEST-VALUE) and the function libraries.
    func digest(_ dbs: String = "0,1,3") -> String { run("/usr/bin/python3", [redisTool, "digest", String(port), password, dbs]) }

    /// `db0`, `db3`, ...: the databases holding keys.
    func nonEmptyDatabases() -> [String] {
        cli("INFO", "keyspace").split(whereSeparator: \.isNewline).filter { $0.hasPrefix("db") }.map { String($0.prefix { $0 != ":" }) }
    }

    func populate() { run("/usr/bin/python3", [redisTool, "populate", String(port), password]) }

    @discardableResult
    private func run(_ program: String, _ arguments: [String]) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["REDISCLI_AUTH": password]) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        guard (try? process.run()) != nil else { return "" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: folder)
    }
}

/// `Tests/Support/redis_tool.py fake-master`: a stand-in master serving an RDB
/// file over SYNC, for the faults a real server does not produce on cue.
private final class FakeMaster {
    let process = Process()
    let portFile = NSTemporaryDirectory() + "coffer-fake-master-" + UUID().uuidString
    private(set) var port = ""

    init(rdb: String, truncate: Bool = false) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [redisTool, "fake-master", rdb, portFile] + (truncate ? ["truncate"] : [])
        try process.run()
        for _ in 0..<200 where port.isEmpty {
            port = ((try? String(contentsOfFile: portFile, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            if port.isEmpty { usleep(50_000) }
        }
        try #require(!port.isEmpty, "the fake master did not start")
    }

    var url: String { "redis://127.0.0.1:\(port)" }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: portFile)
    }
}

/// A workspace backing up one Redis server, `cache`, from `REDIS_URL`.
func withRedisProject(extra: String = "", _ body: (Workspace) throws -> Void) throws {
    try Workspace.with { ws in
        try """
            environment = "development"
            repository = "backups"
            keys = "keys"

            [[redis]]
            name = "cache"
            url_env = "REDIS_URL"
            \(extra)
            """.write(toFile: ws.config, atomically: true, encoding: .utf8)
        try body(ws)
    }
}

private func manifest(_ ws: Workspace) throws -> [String: Any] {
    let bundles = ws.path("backups/bundles/development")
    let id = try #require(try FileManager.default.contentsOfDirectory(atPath: bundles).sorted().last)
    let data = try Data(contentsOf: URL(fileURLWithPath: "\(bundles)/\(id)/manifest.json"))
    let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    return try #require((object?["artifacts"] as? [[String: Any]])?.first)
}

private func bundleCount(_ ws: Workspace) -> Int {
    ((try? FileManager.default.contentsOfDirectory(atPath: ws.path("backups/bundles/development"))) ?? []).filter { !$0.hasPrefix(".") }.count
}

/// The artifact's plaintext, opened by hand with the real age and gunzip.
private func decryptArtifact(_ ws: Workspace, to output: String) throws {
    let bundles = ws.path("backups/bundles/development")
    let id = try #require(try FileManager.default.contentsOfDirectory(atPath: bundles).sorted().last)
    let artifacts = "backups/bundles/development/\(id)/artifacts/cache.rdb.gz.age"
    let opened = try ws.run("/bin/sh", ["-c", "cat \(artifacts)-header \(artifacts)-payload | age -d -i keys/development.age | gunzip > \(output)"])
    try #require(opened.status == 0, "\(opened.stderr)")
}

/// The server's RDB as `redis-cli --rdb` gets it (`real.rdb`), and a copy
/// changed by `redis_tool.py rewrite` (a version number, or `corrupt`).
private func fetchRDB(_ server: RedisServer, into ws: Workspace, as name: String, rewrite how: String) throws {
    let fetched = try ws.run("redis-cli", ["-p", String(server.port), "--rdb", "real.rdb"], environment: ["REDISCLI_AUTH": server.password])
    try #require(fetched.status == 0, "\(fetched.stderr)")
    try #require(try ws.run("python3", [redisTool, "rewrite", "real.rdb", name, how]).status == 0)
}

/// The restore id in `coffer restore`'s output ("restore id ID; undo with ...").
private func restoreIDOf(_ result: CommandResult) throws -> String {
    try #require(result.stdout.split(separator: " ").first { $0.hasSuffix(";") }.map { String($0.dropLast()) }, "\(result.stdout)\(result.stderr)")
}

@Suite("coffer with Redis (a real redis-server)", .serialized)
struct RedisCommandTests {
    @Test(
        "snapshot over SYNC (both transfer forms), verify --deep, redis-check-rdb, live restore through SWAPDB, rollback, finalize",
        arguments: [false, true])
    func roundTrip(diskless: Bool) throws {
        let server = try RedisServer(settings: "repl-diskless-sync \(diskless ? "yes" : "no")")
        server.populate()
        let snapshotted = server.digest()
        #expect(snapshotted.contains("stream") && snapshotted.contains("function cofferlib") && snapshotted.contains(" ttl "))
        try withRedisProject { ws in
            try ws.pinFormatOne()
            let env = ["REDIS_URL": server.url]
            let snapshot = try ws.coffer("snapshot", environment: env)
            #expect(snapshot.status == 0, "\(snapshot.stderr)")
            #expect(!snapshot.stdout.contains(server.password) && !snapshot.stderr.contains(server.password))
            let artifact = try manifest(ws)
            let source = try #require(artifact["source"] as? [String: Any])
            #expect(source["snapshot"] as? String == "replication" && source["redis_version"] as? String == server.cli("INFO", "server").split(separator: "\r\n").first { $0.hasPrefix("redis_version:") }.map { String($0.dropFirst(14)) })
            let stats = try #require(artifact["stats"] as? [String: Any])
            #expect((stats["keys"] as? [String: Int]) == ["0": 15, "3": 15])
            #expect(stats["functions"] as? Int == 1)
            let verify = try ws.coffer("verify", "latest", "--deep")
            #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
            try decryptArtifact(ws, to: "plain.rdb")
            let check = try ws.run("redis-check-rdb", ["plain.rdb"])
            #expect(check.status == 0 && check.stdout.contains("RDB looks OK"), "\(check.stdout)")

            // The application moves on: keys changed, one db emptied, another filled, functions dropped.
            server.cli("-n", "0", "SET", "d0:str", "changed")
            server.cli("-n", "3", "FLUSHDB")
            server.cli("-n", "1", "SET", "only-after", "1")
            server.cli("FUNCTION", "FLUSH")
            let changed = server.digest()
            #expect(changed != snapshotted)

            let restore = try ws.coffer("restore", "latest", "--yes", environment: env)
            #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
            #expect(server.digest() == snapshotted)
            let restoreID = try restoreIDOf(restore)

            let rollback = try ws.coffer("rollback", restoreID, environment: env)
            #expect(rollback.status == 0, "\(rollback.stdout)\(rollback.stderr)")
            #expect(server.digest() == changed)
            #expect(try ws.coffer("restore", "--finalize", restoreID, environment: env).status == 0)
            #expect(server.nonEmptyDatabases() == ["db0", "db1"], "the restored data was not dropped by finalize")

            // Restore again and finalize: only the snapshot's databases hold keys.
            let again = try ws.coffer("restore", "latest", "--yes", environment: env)
            #expect(server.digest() == snapshotted)
            #expect(try ws.coffer("restore", "--finalize", try restoreIDOf(again), environment: env).status == 0)
            #expect(server.nonEmptyDatabases() == ["db0", "db3"])
        }
    }

    @Test("SYNC refused (an ACL user without sync): a logical snapshot instead, said so; it verifies, redis-check-rdb reads it, and it restores")
    func logicalFallback() throws {
        let server = try RedisServer()
        server.populate()
        server.cli("ACL", "SETUSER", "backup", "on", ">backup-pass", "~*", "&*", "+@all", "-sync", "-psync")
        server.cli("ACL", "SETUSER", "nofunctions", "on", ">nofunctions-pass", "~*", "&*", "+@all", "-sync", "-psync", "-function|dump")
        let snapshotted = server.digest()
        try withRedisProject { ws in
            try ws.pinFormatOne()
            let env = ["REDIS_URL": "redis://backup:backup-pass@127.0.0.1:\(server.port)"]
            let snapshot = try ws.coffer("snapshot", environment: env)
            #expect(snapshot.status == 0, "\(snapshot.stderr)")
            #expect(snapshot.stderr.contains("refused SYNC") && snapshot.stderr.contains("logical snapshot"), "\(snapshot.stderr)")
            #expect(!snapshot.stderr.contains("backup-pass"))
            let artifact = try manifest(ws)
            #expect((artifact["source"] as? [String: Any])?["snapshot"] as? String == "logical")
            #expect(((artifact["stats"] as? [String: Any])?["keys"] as? [String: Int]) == ["0": 15, "3": 15])
            #expect(try ws.coffer("verify", "latest", "--deep").status == 0)
            try decryptArtifact(ws, to: "plain.rdb")
            let check = try ws.run("redis-check-rdb", ["plain.rdb"])
            #expect(check.status == 0 && check.stdout.contains("RDB looks OK"), "\(check.stdout)")

            server.cli("FLUSHALL")
            server.cli("FUNCTION", "FLUSH")
            let restore = try ws.coffer("restore", "latest", "--yes", environment: env)
            #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
            #expect(server.digest() == snapshotted)

            // A user that may not FUNCTION DUMP: the snapshot says the libraries are left out.
            let without = try ws.coffer("snapshot", environment: ["REDIS_URL": "redis://nofunctions:nofunctions-pass@127.0.0.1:\(server.port)"])
            #expect(without.status == 0 && without.stderr.contains("FUNCTION DUMP was refused"), "\(without.stderr)")
        }
    }

    @Test("unreachable server, wrong password, missing REDIS_URL: a clear error, no bundle, no password shown")
    func refusedSnapshots() throws {
        let server = try RedisServer()
        try withRedisProject { ws in
            let cases: [([String: String], String)] = [
                (["REDIS_URL": "redis://127.0.0.1:1"], "cannot connect"),
                (["REDIS_URL": "redis://:not-the-password-42@127.0.0.1:\(server.port)"], "refused the credentials"),
                (["REDIS_URL": ""], "REDIS_URL is not set"),
                (["REDIS_URL": "rediss://h:6380"], "TLS"),
            ]
            for (env, message) in cases {
                let result = try ws.coffer("snapshot", environment: env)
                #expect(result.status != 0)
                #expect(result.stderr.contains(message), "\(result.stderr)")
                #expect(!result.stderr.contains("not-the-password-42"))
                #expect(bundleCount(ws) == 0)
            }
        }
    }

    @Test("a transfer cut short, and an RDB whose CRC-64 does not match: the snapshot fails and leaves no bundle")
    func damagedTransfers() throws {
        let server = try RedisServer()
        server.populate()
        try withRedisProject { ws in
            try fetchRDB(server, into: ws, as: "corrupt.rdb", rewrite: "corrupt")
            for (file, truncate, message) in [("real.rdb", true, "closed the connection"), ("corrupt.rdb", false, "checksum does not match")] {
                let master = try FakeMaster(rdb: ws.path(file), truncate: truncate)
                let result = try ws.coffer("snapshot", environment: ["REDIS_URL": master.url])
                #expect(result.status != 0)
                #expect(result.stderr.contains(message), "\(result.stderr)")
                #expect(bundleCount(ws) == 0)
                #expect(try FileManager.default.contentsOfDirectory(atPath: ws.path("backups/bundles/development")).isEmpty)
            }
        }
    }

    @Test("a snapshot newer than the server (RDB version 11 into Redis 7.0) is refused before anything changes")
    func payloadTooNew() throws {
        let server = try RedisServer()
        server.populate()
        try withRedisProject { ws in
            try fetchRDB(server, into: ws, as: "v11.rdb", rewrite: "11")
            let master = try FakeMaster(rdb: ws.path("v11.rdb"))
            #expect(try ws.coffer("snapshot", environment: ["REDIS_URL": master.url]).status == 0)
            server.cli("-n", "0", "SET", "d0:str", "live")
            let before = server.digest()
            let restore = try ws.coffer("restore", "latest", "--yes", environment: ["REDIS_URL": server.url])
            #expect(restore.status != 0)
            #expect(restore.stderr.contains("RDB version 11") && restore.stderr.contains("Nothing was changed"), "\(restore.stderr)")
            #expect(server.digest() == before)
            #expect(server.nonEmptyDatabases() == ["db0", "db3"], "a staging database was left")
        }
    }

    @Test("a configured staging database that is not empty is refused; the server is unchanged")
    func stagingNotEmpty() throws {
        let server = try RedisServer()
        server.populate()
        try withRedisProject(extra: "staging_dbs = [15, 14, 13]") { ws in
            let env = ["REDIS_URL": server.url]
            #expect(try ws.coffer("snapshot", environment: env).status == 0)
            server.cli("-n", "14", "SET", "somebody-else", "1")
            server.cli("-n", "0", "SET", "d0:str", "live")
            let before = server.digest("0,3,13,14,15")
            let restore = try ws.coffer("restore", "latest", "--yes", environment: env)
            #expect(restore.status != 0)
            #expect(restore.stderr.contains("staging db 14 holds 1 key"), "\(restore.stderr)")
            #expect(server.digest("0,3,13,14,15") == before)
        }
    }

    @Test("keys whose TTL ran out since the snapshot are skipped and counted")
    func expiredKeys() throws {
        let server = try RedisServer()
        server.cli("SET", "lasting", "1")
        server.cli("SET", "brief", "1", "PX", "1500")
        try withRedisProject { ws in
            let env = ["REDIS_URL": server.url]
            #expect(try ws.coffer("snapshot", environment: env).status == 0)
            usleep(1_700_000)
            server.cli("FLUSHALL")
            let restore = try ws.coffer("restore", "latest", "--yes", environment: env)
            #expect(restore.status == 0, "\(restore.stderr)")
            #expect(restore.stderr.contains("1 key had expired since the snapshot"), "\(restore.stderr)")
            #expect(server.cli("EXISTS", "lasting") == "1" && server.cli("EXISTS", "brief") == "0")
        }
    }

    @Test("offline mode: dump.rdb written for a stopped server, which loads it; refused while the server runs")
    func offline() throws {
        let server = try RedisServer()
        server.populate()
        let snapshotted = server.digest()
        try withRedisProject(extra: "restore_rdb = \"\(server.folder)/dump.rdb\"") { ws in
            let env = ["REDIS_URL": server.url]
            #expect(try ws.coffer("snapshot", environment: env).status == 0)
            server.cli("FLUSHALL")
            server.cli("SAVE")
            let old = try Data(contentsOf: URL(fileURLWithPath: server.folder + "/dump.rdb"))
            let running = try ws.coffer("restore", "latest", "--yes", environment: env)
            #expect(running.status != 0 && running.stderr.contains("is running; stop it"), "\(running.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: server.folder + "/dump.rdb")) == old)
            // A user that may not even PING, or a wrong password: the server still answers, so it runs.
            server.cli("ACL", "SETUSER", "noping", "on", ">noping-pass", "-@all")
            for url in ["redis://noping:noping-pass@127.0.0.1:\(server.port)", "redis://:wrong-password@127.0.0.1:\(server.port)"] {
                let answered = try ws.coffer("restore", "latest", "--yes", environment: ["REDIS_URL": url])
                #expect(answered.status != 0 && answered.stderr.contains("is running; stop it"), "\(answered.stderr)")
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: server.folder + "/dump.rdb")) == old)

            server.stop()
            let restore = try ws.coffer("restore", "latest", "--yes", environment: env)
            #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
            #expect(try server.start())
            #expect(server.digest() == snapshotted)
        }
    }

    @Test("a later target failing its commit swaps Redis back; a crash after the swap is finished by --recover")
    func undoAndRecover() throws {
        let server = try RedisServer()
        server.populate()
        try withRedisProject(extra: "\n[env]\ninclude = [\"API_KEY\"]\nrestore_to = \"app.env\"") { ws in
            let env = ["REDIS_URL": server.url, "API_KEY": "k"]
            #expect(try ws.coffer("snapshot", environment: env).status == 0)
            // An immutable file cannot be linked or replaced: the env commit, after Redis's, fails.
            try ws.write("app.env", Array("API_KEY=old\n".utf8))
            try #require(try ws.run("chattr", ["+i", "app.env"]).status == 0, "chattr +i needs a file system with attributes (ext4)")
            defer { _ = try? ws.run("chattr", ["-i", "app.env"]) }
            server.cli("-n", "0", "SET", "d0:str", "live")
            server.cli("-n", "1", "SET", "other", "1")
            let before = server.digest()
            let failed = try ws.coffer("restore", "latest", "--yes", environment: env)
            #expect(failed.status != 0)
            #expect(failed.stderr.contains("every target was put back"), "\(failed.stderr)")
            #expect(server.digest() == before)
            #expect(server.nonEmptyDatabases() == ["db0", "db1", "db3"], "a staging database was left")

            let left = try ws.files().filter { $0.contains("app.env.") || $0.contains("coffer-stage") }
            #expect(left.isEmpty, "a kept or staged copy of the secrets was left: \(left)")
            #expect(try ws.run("chattr", ["-i", "app.env"]).status == 0)
            let crashed = try ws.coffer("restore", "latest", "--yes", environment: env.merging(["COFFER_FAULT": "restore-after-commit-1"]) { $1 })
            #expect(crashed.status != 0)
            let recovered = try ws.coffer("restore", "--recover", environment: env)
            #expect(recovered.status == 0 && recovered.stdout.contains("finished the interrupted commit"), "\(recovered.stdout)\(recovered.stderr)")
            #expect(server.cli("-n", "0", "GET", "d0:str") == "hello" && server.cli("-n", "1", "EXISTS", "other") == "0")
        }
    }
}
