import CofferFormat
import CofferSystem
import Foundation

/// A Redis server. Snapshot: its RDB over the replication protocol (as
/// `redis-cli --rdb` gets it), or a logical snapshot where `SYNC` is refused.
/// Restore: into the live server through empty staging databases swapped in
/// with `SWAPDB` (see `RedisLiveRestore`), or, with `offlineRDB`, as a
/// `dump.rdb` file for a stopped server.
public struct RedisSource: SnapshotSource, RestoreTarget {
    public let name: String
    /// The environment variable holding the URL (the URL holds the password, so it is never in the config).
    public let urlEnv: String
    let url: String?
    /// Databases restore may stage into; nil picks empty ones from the top.
    public var stagingDBs: [Int]?
    /// Restore writes this RDB file (atomically) instead of the live server.
    public var offlineRDB: String?

    public var kind: ArtifactKind { .redis }
    public var fileExtension: String { "rdb" }
    /// An RDB's strings are LZF-compressed already: gzip -6 would cost three
    /// times the CPU of -1 for a fifth less size, while the server's own fork
    /// competes for the same cores.
    public var compressionLevel: Int32 { 1 }

    public init(name: String, urlEnv: String, environment: [String: String], stagingDBs: [Int]? = nil, offlineRDB: String? = nil) {
        self.name = name
        self.urlEnv = urlEnv
        self.url = environment[urlEnv].flatMap { $0.isEmpty ? nil : $0 }
        self.stagingDBs = stagingDBs
        self.offlineRDB = offlineRDB
    }

    public var targetDescription: String {
        if let offlineRDB { return offlineRDB }
        guard let url, let address = try? RedisAddress(url: url) else { return "(the Redis server in \(urlEnv))" }
        return address.description
    }

    func connect(timeoutSeconds: Int = 10) throws -> RedisConnection {
        guard let url else {
            throw SourceError(name, "\(urlEnv) is not set; it must hold the server's URL, redis://[user:password@]host:port[/db]")
        }
        do {
            return try RedisConnection(try RedisAddress(url: url), timeoutSeconds: timeoutSeconds)
        } catch let error as RedisError {
            throw SourceError(name, error.message)
        }
    }

    // MARK: Snapshot

    /// The server's dataset memory: an RDB is rarely larger.
    public func estimatedSize() -> Int64 {
        guard let connection = try? connect(timeoutSeconds: 2), let memory = try? connection.info("memory") else { return 0 }
        return Int64(memory["used_memory_dataset"] ?? memory["used_memory"] ?? "") ?? 0
    }

    public func snapshot(workDirectory: String, into sink: ByteSink) throws -> SourceFacts {
        do {
            let connection = try connect()
            let redisVersion = try connection.info("server")["redis_version"] ?? "unknown"
            do {
                // Compression and encryption run on another thread while the RDB is read and checked.
                let summary = try withWriteBehind(sink) { sink in try RedisReplication.fetchRDB(connection, into: sink) }
                return facts(
                    redisVersion: redisVersion, mode: "replication", rdbVersion: summary.version, keysPerDB: summary.keysPerDB,
                    functions: summary.functions.count)
            } catch let refused as RedisReplication.SyncRefused {
                // Nothing reached the sink: the refusal is the first line of the answer.
                let logical = try withoutActuallyEscaping(sink) { sink in
                    try RedisLogicalSnapshot.write(try connect(), redisVersion: redisVersion, into: sink)
                }
                var result = facts(
                    redisVersion: redisVersion, mode: "logical", rdbVersion: logical.rdbVersion, keysPerDB: logical.keysPerDB,
                    functions: logical.functions)
                result.notes.append(
                    "\(name): \(refused.message); took a logical snapshot instead (SCAN + DUMP + PTTL: not one point in time)")
                result.notes += logical.notes.map { "\(name): \($0)" }
                return result
            }
        } catch let error as RedisError {
            throw SourceError(name, error.message)
        } catch let error as RDBError {
            throw SourceError(name, "the server's RDB does not check: \(error.message)")
        }
    }

    private func facts(redisVersion: String, mode: String, rdbVersion: Int, keysPerDB: [Int: Int], functions: Int) -> SourceFacts {
        SourceFacts(
            source: ["redis_version": .string(redisVersion), "rdb_version": .int(Int64(rdbVersion)), "snapshot": .string(mode)],
            stats: Self.stats(keysPerDB: keysPerDB, functions: functions))
    }

    /// Keys per database (by number, as a string) and function libraries: what verify and restore compare.
    static func stats(keysPerDB: [Int: Int], functions: Int) -> [String: JSONValue] {
        [
            "keys": .object(Dictionary(uniqueKeysWithValues: keysPerDB.map { (String($0.key), JSONValue.int(Int64($0.value))) })),
            "functions": .int(Int64(functions)),
        ]
    }

    /// Reads an RDB file end to end (every record, the CRC-64) and returns its stats.
    public static func inspect(_ file: String, name: String) throws -> [String: JSONValue] {
        let descriptor = try FileDescriptor(opening: file, .readOnly)
        do {
            let summary = try RDBReader.check { try descriptor.read(into: $0) }
            return stats(keysPerDB: summary.keysPerDB, functions: summary.functions.count)
        } catch let error as RDBError {
            throw SourceError(name, "the RDB does not check: \(error.message)")
        }
    }

    // MARK: Restore

    public func stage(restoreID: String, entry: ArtifactEntry, plaintext: (ByteSink) throws -> Void) throws -> StageReport {
        try method().stage(restoreID: restoreID, entry: entry, plaintext: plaintext)
    }

    public func commit(restoreID: String) throws { try method().commit(restoreID: restoreID) }

    public func undo(restoreID: String) throws { try method().undo(restoreID: restoreID) }

    public func discardStage(restoreID: String) { try? method().discardStage(restoreID: restoreID) }

    public func finalize(restoreID: String) throws { try method().finalize(restoreID: restoreID) }

    public func content(restoreID: String) throws -> TargetContent { try method().content(restoreID: restoreID) }

    public func hasPreRestoreCopy(restoreID: String) throws -> Bool { try method().hasPreRestoreCopy(restoreID: restoreID) }

    private func method() throws -> any RedisRestoreMethod {
        if let offlineRDB { return RedisOfflineRestore(file: offlineRDB, source: self) }
        return RedisLiveRestore(name: name, connection: try connect(timeoutSeconds: 60), stagingDBs: stagingDBs)
    }
}

/// The steps of `RestoreTarget`, for the two ways a Redis restore goes.
protocol RedisRestoreMethod {
    func stage(restoreID: String, entry: ArtifactEntry, plaintext: (ByteSink) throws -> Void) throws -> StageReport
    func commit(restoreID: String) throws
    func undo(restoreID: String) throws
    func discardStage(restoreID: String) throws
    func finalize(restoreID: String) throws
    func content(restoreID: String) throws -> TargetContent
    func hasPreRestoreCopy(restoreID: String) throws -> Bool
}
