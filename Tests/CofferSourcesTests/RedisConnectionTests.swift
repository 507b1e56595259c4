import CofferSources
import CofferSystem
import Foundation
import Testing

/// A redis-server of its own on a free loopback port, with a password; stopped afterwards.
private final class RedisTestServer {
    let process = Process()
    let folder = NSTemporaryDirectory() + "coffer-redis-" + UUID().uuidString
    let port: Int
    let password = "pw-" + UUID().uuidString.prefix(8)

    init() throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var chosen = 0
        for _ in 0..<20 {
            let candidate = Int.random(in: 20_000...45_000)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [
                "redis-server", "--port", String(candidate), "--bind", "127.0.0.1", "--requirepass", password, "--dir", folder,
                "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0",
            ]
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            for _ in 0..<100 {
                if (try? RedisConnection(RedisAddress(url: "redis://:\(password)@127.0.0.1:\(candidate)"), timeoutSeconds: 1)) != nil {
                    chosen = candidate
                    break
                }
                if !process.isRunning { break }
                usleep(50_000)
            }
            if chosen != 0 { break }
        }
        port = try #require(chosen == 0 ? nil : chosen, "redis-server did not start (`make test` installs it)")
    }

    var url: String { "redis://:\(password)@127.0.0.1:\(port)" }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: folder)
    }
}

private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

@Suite("Redis: connection (hiredis) and RDB over the replication protocol", .serialized)
struct RedisConnectionTests {
    @Test("URLs: user, password, db, unix sockets; TLS refused; the password never in the description")
    func addresses() throws {
        let full = try RedisAddress(url: "redis://app:p%40ss@cache.internal:6380/2")
        #expect(full.user == "app" && full.db == 2)
        #expect("\(full)" == "redis://app:***@cache.internal:6380/2")
        #expect(!"\(full)".contains("p@ss"))
        #expect("\(try RedisAddress(url: "redis://localhost"))" == "redis://localhost:6379/0")
        #expect("\(try RedisAddress(url: "unix:///run/redis.sock?db=3"))" == "unix:///run/redis.sock?db=3")
        #expect { try RedisAddress(url: "rediss://h") } throws: { "\($0)".contains("TLS") }
        #expect { try RedisAddress(url: "http://h") } throws: { "\($0)".contains("redis://") }
    }

    @Test("wrong password and unreachable server: clear errors without the password")
    func refusals() throws {
        let server = try RedisTestServer()
        #expect {
            try RedisConnection(RedisAddress(url: "redis://:wrong-secret-99@127.0.0.1:\(server.port)"))
        } throws: { error in
            "\(error)".contains("refused the credentials") && !"\(error)".contains("wrong-secret-99")
        }
        #expect { try RedisConnection(RedisAddress(url: "redis://127.0.0.1:1")) } throws: { "\($0)".contains("cannot connect") }
    }

    @Test("SYNC in both transfer forms: the RDB streams out whole, checks, and its DUMP payloads equal the server's", arguments: [false, true])
    func sync(diskless: Bool) throws {
        let server = try RedisTestServer()
        let redis = try RedisConnection(RedisAddress(url: server.url))
        try redis.command("CONFIG", "SET", "repl-diskless-sync", diskless ? "yes" : "no")
        for db in [0, 2] {
            try redis.command("SELECT", String(db))
            try redis.command("SET", "s\(db)", "value")
            try redis.command("RPUSH", "l\(db)", "a", "b", "c")
            try redis.command("HSET", "h\(db)", "f", "v")
            try redis.command("ZADD", "z\(db)", "1", "m")
            try redis.command("SADD", "set\(db)", "1", "2")
            try redis.command("XADD", "x\(db)", "*", "k", "v")
            try redis.command("SET", "t\(db)", "ttl", "EX", "3600")
        }
        try redis.command("SELECT", "0")
        var rdb: [UInt8] = []
        let replica = try RedisConnection(RedisAddress(url: server.url))
        let summary = try RedisReplication.fetchRDB(replica) { rdb.append(contentsOf: $0) }
        #expect(summary.keysPerDB == [0: 7, 2: 7])
        #expect(summary.checksum != nil)
        #expect(rdb.starts(with: Array("REDIS".utf8)) && rdb.last != nil)

        // The streamed bytes are the whole RDB: redis-check-rdb accepts them.
        let file = server.folder + "/fetched.rdb"
        try Data(rdb).write(to: URL(fileURLWithPath: file))
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["redis-check-rdb", file]
        check.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try check.run()
        check.waitUntilExit()
        #expect(check.terminationStatus == 0)

        var offset = 0
        var entries: [RDBEntry] = []
        _ = try RDBReader.read({ buffer in
            let count = min(buffer.count, rdb.count - offset)
            buffer.copyBytes(from: rdb[offset..<offset + count])
            offset += count
            return count
        }) { entries.append($0) }
        for entry in entries {
            try redis.command("SELECT", String(entry.db))
            let dump = try redis.command([Array("DUMP".utf8), entry.key])
            #expect(dump == .string(entry.dumpPayload(rdbVersion: summary.version)), "\(String(decoding: entry.key, as: UTF8.self))")
        }
    }
}
