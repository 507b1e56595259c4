import CofferFormat
import CofferSystem
import Foundation

/// Restore into a running server, all or nothing. Every database the snapshot
/// or the server holds data in gets an empty staging database; the snapshot's
/// keys are `RESTORE`d there (pipelined, absolute TTLs, keys already expired
/// skipped and counted) and counted; the commit swaps every pair at once with
/// `SWAPDB` inside one `MULTI`/`EXEC`, so clients see the old data or the new,
/// never a mix. The old data then sits in the staging databases until
/// finalize (flushed) or rollback (swapped back).
///
/// The server itself records where a restore stands, so a crash at any point
/// can be resumed: each staging database holds a marker key naming the
/// database it pairs with, `…:staged` before the swap, `…:kept` after it,
/// `…:undone` after an undo.
struct RedisLiveRestore: RedisRestoreMethod {
    let name: String
    let connection: RedisConnection
    let stagingDBs: [Int]?

    /// Commands in flight while restoring: enough to keep the server busy, few enough to bound memory.
    static let batch = 1000

    func marker(_ restoreID: String, _ state: String) -> [UInt8] { Array("__coffer:restore:\(restoreID):\(state)".utf8) }
    func functionsKey(_ restoreID: String, _ which: String) -> [UInt8] { Array("__coffer:restore:\(restoreID):functions-\(which)".utf8) }

    // MARK: Stage

    func stage(restoreID: String, entry: ArtifactEntry, plaintext: (ByteSink) throws -> Void) throws -> StageReport {
        let pairs = try choosePairs(entry)
        let stagedMarker = marker(restoreID, "staged")
        for (live, staging) in pairs {
            try connection.select(staging)
            try command([Array("SET".utf8), stagedMarker, Array(String(live).utf8)])
        }
        try checkVersion(entry, probeDB: pairs.first?.staging)
        var restored: [Int: Int] = [:]
        var expiries: [Int: [Int64]] = [:]
        var skipped = 0
        let summary = try withPulledStream(plaintext) { pulled in try withoutActuallyEscaping(pulled) { source in
            let pipeline = Pipeline(connection: connection, name: name)
            var currentDB: Int?
            let start = Int64(Date().timeIntervalSince1970 * 1000)
            let summary = try RDBReader.read(source) { key in
                if let expires = key.expiresAtMs, expires <= start {
                    skipped += 1
                    return
                }
                if currentDB != key.db {
                    guard let staging = pairs.first(where: { $0.live == key.db })?.staging else {
                        throw SourceError(name, "the snapshot has keys in db \(key.db), which the manifest does not list")
                    }
                    try pipeline.add([Array("SELECT".utf8), Array(String(staging).utf8)], key: nil)
                    currentDB = key.db
                }
                try pipeline.add(Self.restoreCommand(key), key: key.key)
                restored[key.db, default: 0] += 1
                if let expires = key.expiresAtMs { expiries[key.db, default: []].append(expires) }
            }
            try pipeline.drain()
            return summary
        } }
        try checkCounts(pairs, restored: restored, expiries: expiries)
        if !summary.functions.isEmpty, let first = pairs.first {
            try connection.select(first.staging)
            try command([Array("SET".utf8), functionsKey(restoreID, "new"), Self.functionPayload(summary)])
        }
        var notes: [String] = []
        if skipped > 0 { notes.append("\(name): \(skipped) key\(skipped == 1 ? "" : "s") had expired since the snapshot and \(skipped == 1 ? "was" : "were") not restored") }
        return StageReport(stats: RedisSource.stats(keysPerDB: summary.keysPerDB, functions: summary.functions.count), notes: notes)
    }

    /// Pairs each database to replace (in the snapshot, or holding data now)
    /// with an empty staging database.
    private func choosePairs(_ entry: ArtifactEntry) throws -> [(live: Int, staging: Int)] {
        let snapshotDBs = Set((entry.stats["keys"]?.objectValue ?? [:]).keys.compactMap { Int($0) })
        let liveNow = try connection.keyspace()
        let databases = connection.databaseCount()
        var staging: [Int]
        if let stagingDBs {
            for db in stagingDBs {
                guard db >= 0 && db < databases else { throw SourceError(name, "staging db \(db) does not exist (the server has \(databases) databases)") }
                if let keys = liveNow[db] {
                    throw SourceError(
                        name, "staging db \(db) holds \(keys) key\(keys == 1 ? "" : "s"); restore only stages into an empty database: empty it (FLUSHDB) if it is yours, or set staging_dbs to empty ones")
                }
                if snapshotDBs.contains(db) { throw SourceError(name, "staging db \(db) is one the snapshot restores into; choose other staging_dbs") }
            }
            staging = stagingDBs
        } else {
            staging = (0..<databases).reversed().filter { liveNow[$0] == nil && !snapshotDBs.contains($0) }
        }
        var replaced = snapshotDBs.union(liveNow.keys).subtracting(staging).sorted()
        if replaced.isEmpty, let db = (0..<databases).first(where: { stagingDBs?.contains($0) != true }) {
            // An empty snapshot into an empty server: one swap of empty databases keeps commit, undo and functions the same.
            replaced = [db]
            staging.removeAll { $0 == db }
        }
        guard staging.count >= replaced.count else {
            throw SourceError(
                name, "restoring db \(replaced.map(String.init).joined(separator: ", ")) needs \(replaced.count) empty staging databases, and only \(staging.count) \(stagingDBs == nil ? "are empty" : "are configured in staging_dbs"); raise `databases` in redis.conf or free some")
        }
        return Array(zip(replaced, staging))
    }

    /// Refuses, before any key is sent, a snapshot whose RDB version is newer
    /// than the server's (its RESTORE would refuse every key): the server's own
    /// version is read from a `DUMP` of a probe key in a staging database.
    private func checkVersion(_ entry: ArtifactEntry, probeDB: Int?) throws {
        guard let probeDB, case .int(let wanted)? = entry.source["rdb_version"] else { return }
        try connection.select(probeDB)
        let probe = Array("__coffer:probe".utf8)
        try command([Array("SET".utf8), probe, Array("1".utf8)])
        let dump = try command([Array("DUMP".utf8), probe])
        try command([Array("DEL".utf8), probe])
        guard case .string(let payload) = dump, payload.count > 10 else { return }
        let serverVersion = RDBWriter.version(of: payload[...])
        let redisVersion = entry.source["redis_version"]?.stringValue ?? "a newer Redis"
        guard Int(wanted) <= serverVersion else {
            let serverRelease = (try? connection.info("server")["redis_version"]) ?? nil
            throw SourceError(
                name, "the snapshot is RDB version \(wanted) (from Redis \(redisVersion)) and this server (Redis \(serverRelease ?? "?")) reads RDB version \(serverVersion) at most, so it would refuse every key; restore into Redis \(redisVersion) or newer. Nothing was changed")
        }
    }

    /// Each staging database must hold what was restored into it (plus its
    /// marker); keys whose TTL ran out since they were restored may be gone.
    private func checkCounts(_ pairs: [(live: Int, staging: Int)], restored: [Int: Int], expiries: [Int: [Int64]]) throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000) + 1000
        for (live, staging) in pairs {
            try connection.select(staging)
            guard case .integer(let size) = try command([Array("DBSIZE".utf8)]) else { continue }
            let found = Int(size) - 1  // the marker
            let expected = restored[live] ?? 0
            let mayHaveExpired = (expiries[live] ?? []).filter { $0 <= now }.count
            guard found <= expected && found >= expected - mayHaveExpired else {
                throw SourceError(name, "staging db \(staging) holds \(found) keys after restoring \(expected) for db \(live); nothing was changed")
            }
        }
    }

    /// `RESTORE key ttl payload [ABSTTL] [IDLETIME s | FREQ f]`.
    static func restoreCommand(_ key: RDBEntry) -> [[UInt8]] {
        var arguments = [Array("RESTORE".utf8), key.key, Array(String(key.expiresAtMs ?? 0).utf8), key.dumpPayload(rdbVersion: key.rdbVersion)]
        if key.expiresAtMs != nil { arguments.append(Array("ABSTTL".utf8)) }
        if let idle = key.idleSeconds {
            arguments += [Array("IDLETIME".utf8), Array(String(idle).utf8)]
        } else if let frequency = key.frequency {
            arguments += [Array("FREQ".utf8), Array(String(frequency).utf8)]
        }
        return arguments
    }

    @discardableResult
    private func command(_ arguments: [[UInt8]]) throws -> RedisValue {
        do { return try connection.command(arguments) } catch let error as RedisError { throw SourceError(name, error.message) }
    }

    /// A `FUNCTION RESTORE` payload: the libraries as FUNCTION2 records, version, CRC-64.
    static func functionPayload(_ summary: RDBSummary) -> [UInt8] {
        var payload: [UInt8] = []
        for library in summary.functions {
            payload.append(RDBReader.function2)
            RDBWriter.appendString(library, to: &payload)
        }
        payload += [UInt8(summary.version & 0xff), UInt8(summary.version >> 8)]
        withUnsafeBytes(of: CRC64.checksum(payload).littleEndian) { payload.append(contentsOf: $0) }
        return payload
    }

    // MARK: Commit, undo, finalize

    /// Staging databases holding `state`'s marker, with the database each pairs with.
    private func pairs(_ restoreID: String, _ state: String) throws -> [(live: Int, staging: Int)] {
        let key = marker(restoreID, state)
        var found: [(live: Int, staging: Int)] = []
        for db in 0..<connection.databaseCount() {
            try connection.select(db)
            if case .string(let value) = try command([Array("GET".utf8), key]), let live = Int(String(decoding: value, as: UTF8.self)) {
                found.append((live, db))
            }
        }
        return found
    }

    /// Swaps every staged database in at once, keeping the old data in the staging databases.
    func commit(restoreID: String) throws {
        let staged = try pairs(restoreID, "staged")
        guard !staged.isEmpty else {
            if try hasPreRestoreCopy(restoreID: restoreID) { return }  // committed before a crash
            throw SourceError(name, "the staged databases of restore \(restoreID) are gone (flushed?); the restore cannot be committed")
        }
        try swap(staged, from: "staged", to: "kept", restoreID: restoreID, functions: ("new", "old"))
    }

    /// Swaps the kept databases back; the restored data goes to the staging databases until finalize.
    func undo(restoreID: String) throws {
        let kept = try pairs(restoreID, "kept")
        guard !kept.isEmpty else { return }
        try swap(kept, from: "kept", to: "undone", restoreID: restoreID, functions: ("old", "new"))
    }

    /// One transaction: for each pair, drop the marker, `SWAPDB`, mark the
    /// staging database with its new state; the function libraries follow
    /// (`FUNCTION RESTORE ... FLUSH`) when the snapshot had any, the replaced
    /// ones kept beside the marker for undo.
    private func swap(_ pairs: [(live: Int, staging: Int)], from: String, to: String, restoreID: String, functions: (apply: String, keep: String)) throws {
        var libraries: [UInt8]?
        var librariesDB = pairs[0].staging
        for (_, staging) in pairs where libraries == nil {
            try connection.select(staging)
            if case .string(let payload) = try command([Array("GET".utf8), functionsKey(restoreID, functions.apply)]) {
                libraries = payload
                librariesDB = staging
            }
        }
        var current: [UInt8]?
        if libraries != nil, case .string(let payload) = try command([Array("FUNCTION".utf8), Array("DUMP".utf8)]) { current = payload }
        var transaction: [[[UInt8]]] = []
        for (live, staging) in pairs {
            transaction.append([Array("SELECT".utf8), Array(String(staging).utf8)])
            transaction.append([Array("DEL".utf8), marker(restoreID, from), functionsKey(restoreID, functions.apply)])
            transaction.append([Array("SWAPDB".utf8), Array(String(live).utf8), Array(String(staging).utf8)])
            transaction.append([Array("SELECT".utf8), Array(String(staging).utf8)])
            transaction.append([Array("SET".utf8), marker(restoreID, to), Array(String(live).utf8)])
        }
        if let libraries {
            transaction.append([Array("FUNCTION".utf8), Array("RESTORE".utf8), libraries, Array("FLUSH".utf8)])
            transaction.append([Array("SELECT".utf8), Array(String(librariesDB).utf8)])
            transaction.append([Array("SET".utf8), functionsKey(restoreID, functions.keep), current ?? []])
        }
        try command([Array("MULTI".utf8)])
        for step in transaction { try command(step) }
        guard case .array(let results) = try command([Array("EXEC".utf8)]) else {
            throw SourceError(name, "the server aborted the SWAPDB transaction; nothing was changed")
        }
        // A command failing inside EXEC does not stop the others: swap back what was swapped.
        let failures = results.compactMap { if case .error(let message) = $0 { message } else { nil } }
        guard failures.isEmpty else {
            let swapped = try self.pairs(restoreID, to)
            if !swapped.isEmpty {
                try swap(swapped, from: to, to: from, restoreID: restoreID, functions: (functions.keep, functions.apply))
            }
            throw SourceError(name, "the server failed part of the SWAPDB transaction (\(failures.joined(separator: "; "))); it was swapped back, nothing changed")
        }
    }

    func discardStage(restoreID: String) throws {
        for (_, staging) in try pairs(restoreID, "staged") { try flush(staging) }
    }

    /// Empties the staging databases: the old data after a commit, the restored data after an undo.
    func finalize(restoreID: String) throws {
        for (_, staging) in try pairs(restoreID, "kept") + pairs(restoreID, "undone") { try flush(staging) }
    }

    func hasPreRestoreCopy(restoreID: String) throws -> Bool {
        try !pairs(restoreID, "kept").isEmpty
    }

    /// Read from the markers: the swap moves them with the data, so they say
    /// which side of it the server is on, whatever became of the answer to `EXEC`.
    func content(restoreID: String) throws -> TargetContent {
        if try !pairs(restoreID, "kept").isEmpty { return .bundle }
        if try !pairs(restoreID, "staged").isEmpty || !pairs(restoreID, "undone").isEmpty { return .previous }
        throw SourceError(name, "no staging database of restore \(restoreID) holds its marker (flushed?), so which data the server holds cannot be told")
    }

    private func flush(_ db: Int) throws {
        try connection.select(db)
        try command([Array("FLUSHDB".utf8), Array("ASYNC".utf8)])
    }
}

/// Commands sent ahead of their replies, a batch at a time; a refused command
/// fails the stage with the key it was for.
private final class Pipeline {
    let connection: RedisConnection
    let name: String
    private var request: [UInt8] = []
    private var keys: [[UInt8]?] = []
    private var inFlight: [[UInt8]?] = []

    init(connection: RedisConnection, name: String) {
        self.connection = connection
        self.name = name
    }

    func add(_ arguments: [[UInt8]], key: [UInt8]?) throws {
        RESP.append(arguments, to: &request)
        keys.append(key)
        if keys.count >= RedisLiveRestore.batch { try sendBatch() }
    }

    /// Sends the gathered batch, then reads the replies of the one before it,
    /// so the server works on one batch while the next is built.
    private func sendBatch() throws {
        try connection.send(request)
        request.removeAll(keepingCapacity: true)
        try readReplies()
        inFlight = keys
        keys.removeAll(keepingCapacity: true)
    }

    private func readReplies() throws {
        for key in inFlight {
            do {
                _ = try connection.reply()
            } catch let error as RedisError {
                let what = key.map { "RESTORE of \(RDBReader.reference($0)) (its name is not shown)" } ?? "SELECT"
                throw SourceError(name, "the server refused the \(what): \(error.message); nothing was changed")
            }
        }
        inFlight.removeAll(keepingCapacity: true)
    }

    func drain() throws {
        if !keys.isEmpty { try sendBatch() }
        try readReplies()
    }
}
