import CofferSystem
import Foundation

/// The snapshot taken when a server refuses `SYNC` (managed services often
/// do): every database walked with `SCAN`, each key read with `DUMP` and
/// `PTTL` (pipelined), written as an RDB file (see `RDBWriter`). Unlike the
/// replication snapshot it is not one point in time: keys written during the
/// walk may or may not be in it.
enum RedisLogicalSnapshot {
    struct Result {
        var keysPerDB: [Int: Int]
        var functions: Int
        var rdbVersion: Int
        /// What the operator should hear (libraries left out, say).
        var notes: [String] = []
    }

    static func write(_ connection: RedisConnection, redisVersion: String, into sink: @escaping ByteSink) throws -> Result {
        let writer = try RDBWriter(aux: [("redis-ver", redisVersion), ("coffer-snapshot", "logical")], sink: sink)
        for db in try connection.keyspace().keys.sorted() {
            try connection.select(db)
            try copyDatabase(db, connection, writer)
        }
        var notes: [String] = []
        do {
            if case .string(let payload) = try connection.command("FUNCTION", "DUMP"), payload.count > 10,
                case .array(let libraries) = try connection.command("FUNCTION", "LIST")
            {
                try writer.functionRecords(payload, count: libraries.count)
            }
        } catch let error as RedisError where error.message.contains("NOPERM") {
            // Said, not swallowed: the manifest would otherwise claim there are no libraries.
            notes.append("FUNCTION DUMP was refused (\(error.message)): function libraries, if the server has any, are not in this snapshot; allow +function|dump and +function|list")
        } catch is RedisError {
            // Before Redis 7 there are no functions to dump.
        }
        try writer.finish(fallbackVersion: rdbVersion(forRedis: redisVersion))
        return Result(keysPerDB: writer.keysPerDB, functions: writer.functions, rdbVersion: writer.version ?? 0, notes: notes)
    }

    /// One database, a `SCAN` page at a time; a key the walk returns twice
    /// (SCAN may, while the server rehashes) is written once.
    private static func copyDatabase(_ db: Int, _ connection: RedisConnection, _ writer: RDBWriter) throws {
        var seen = Set<[UInt8]>()
        var cursor = "0"
        repeat {
            guard case .array(let page) = try connection.command("SCAN", cursor, "COUNT", "1000"), page.count == 2,
                let next = page[0].text, case .array(let names) = page[1]
            else { throw RedisError("\(connection.address) answered SCAN unexpectedly") }
            cursor = next
            var keys: [[UInt8]] = []
            for case .string(let key) in names where seen.insert(key).inserted { keys.append(key) }
            var request: [UInt8] = []
            for key in keys {
                RESP.append([Array("DUMP".utf8), key], to: &request)
                RESP.append([Array("PTTL".utf8), key], to: &request)
            }
            if keys.isEmpty { continue }
            try connection.send(request)
            for key in keys {
                let dump = try connection.reply()
                let ttl = try connection.reply()
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                guard case .string(let payload) = dump, payload.count > 10 else { continue }  // deleted since SCAN
                guard case .integer(let milliseconds) = ttl, milliseconds != -2 else { continue }
                try writer.key(key, db: db, payload: payload[...], expiresAtMs: milliseconds >= 0 ? now + milliseconds : nil)
            }
        } while cursor != "0"
    }
}
