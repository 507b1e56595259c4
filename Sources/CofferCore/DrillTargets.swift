import CofferFormat
import CofferSources
import CofferSystem
import Foundation

/// One artifact's scratch target in a drill: a restore target that is never
/// a live one, what the smoke command is told about it, and how it is
/// checked once restored.
struct DrillTarget {
    let entry: ArtifactEntry
    let target: any RestoreTarget
    /// The scratch target in words (no password), for the report.
    let description: String
    /// Variables for the smoke command.
    var variables: [String: String] = [:]
    /// Values (URLs with passwords) to blank out of the smoke command's output.
    var secrets: [String] = []
    /// After the commit: starts what serves the target (a throwaway redis-server).
    var afterCommit: (() throws -> Void)?
    /// Ends what serves the target (before its folder is removed).
    var stop: (() -> Void)?
    /// The target as served, compared with the manifest.
    var liveCheck: (() throws -> DrillLiveCheck)?
}

/// Builds the scratch targets of a drill, recording each in the drill's
/// scratch record before anything is created.
struct DrillTargets {
    let config: CofferConfig
    let environment: [String: String]
    let scratch: DrillScratch
    let drillID: String
    /// The drill's private folder (already recorded and created).
    let folder: String

    /// Short enough that PostgreSQL's derived staging names are not cut: `d` and the id's 8 hex digits.
    var restoreID: String { "d" + drillID.suffix(8) }

    static func variableName(_ name: String) -> String {
        name.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// What must be there before anything is fetched: a server that can create databases, a redis-server program.
    func preflight(_ manifest: Manifest) throws {
        for entry in manifest.artifacts where entry.kind == .postgres {
            let (variable, server) = try postgresServer(for: entry)
            let allowed: Bool
            do { allowed = try server.canCreateDatabases() } catch {
                throw CofferError(.failure, "\(entry.name): cannot reach the drill's PostgreSQL server in \(variable): \(error)")
            }
            guard allowed else {
                throw CofferError(
                    .failure,
                    "\(entry.name): the role in \(variable) cannot create databases, and a drill restores into a scratch database; grant it CREATEDB (ALTER ROLE ... CREATEDB), or name a server where it may with [drill] postgres_url_env")
            }
        }
        if manifest.artifacts.contains(where: { $0.kind == .redis }), config.drill.redisURLEnv == nil {
            _ = try redisServerProgram()
        }
    }

    private func postgresServer(for entry: ArtifactEntry) throws -> (String, PostgresScratchServer) {
        let variable = config.drill.postgresURLEnv ?? config.postgres.first { $0.name == entry.name }?.urlEnv ?? "DATABASE_URL"
        guard let url = environment[variable], !url.isEmpty else {
            throw CofferError(
                .config,
                "\(entry.name): \(variable) is not set; a drill needs a PostgreSQL server for its scratch database (the source's own, or [drill] postgres_url_env)")
        }
        return (variable, try PostgresScratchServer(url: url))
    }

    func redisServerProgram() throws -> String {
        if let configured = config.drill.redisServer {
            guard FileSystem.exists(configured) else {
                throw CofferError(.config, "[drill] redis_server is \(configured), which does not exist; install redis-server (apt install redis-server) or fix the path")
            }
            return configured
        }
        if let found = ChildProcess.locate("redis-server", path: environment["PATH"]) { return found }
        throw CofferError(
            .config,
            "no redis-server program on PATH, and a drill restores Redis into a throwaway server; install it (apt install redis-server), set [drill] redis_server, or name a drill server with [drill] redis_url_env")
    }

    func make(_ entry: ArtifactEntry) throws -> DrillTarget {
        let upper = Self.variableName(entry.name)
        switch entry.kind {
        case .sqlite:
            let path = FileSystem.join(folder, "\(entry.name).sqlite")
            var target = DrillTarget(entry: entry, target: SQLiteSource(name: entry.name, path: path), description: path)
            target.variables["SQLITE_PATH_\(upper)"] = path
            return target
        case .env:
            let path = FileSystem.join(folder, "env")
            let env = config.env
            let source = EnvSource(include: env?.include ?? [], pattern: env?.pattern, file: nil, restoreTo: path, environment: [:])
            var target = DrillTarget(entry: entry, target: source, description: path)
            target.variables["COFFER_DRILL_ENV_FILE"] = path
            return target
        case .postgres:
            return try postgres(entry, upper)
        case .redis:
            return try redis(entry, upper)
        case .file:
            let files = FileSystem.join(folder, "files")
            try FileSystem.createDirectory(files, permissions: 0o700)
            let path = FileSystem.join(files, entry.name)
            var target = DrillTarget(entry: entry, target: FilesSource(name: entry.name, path: path), description: path)
            target.variables["FILES_PATH_\(upper)"] = path
            return target
        }
    }

    private func postgres(_ entry: ArtifactEntry, _ upper: String) throws -> DrillTarget {
        let (variable, server) = try postgresServer(for: entry)
        let database = "coffer_drill_\(drillID.suffix(8))_\(entry.name.prefix(20))".lowercased().replacingOccurrences(of: "-", with: "_")
        try scratch.record(.init(kind: "postgres", name: database, urlEnv: variable), drill: drillID)
        let url = server.url(database: database)
        let source = PostgresSource(name: entry.name, urlEnv: "COFFER_DRILL_URL", environment: ["COFFER_DRILL_URL": url], database: database)
        var target = DrillTarget(entry: entry, target: source, description: source.targetDescription)
        target.variables["DATABASE_URL_\(upper)"] = url
        if let own = config.postgres.first(where: { $0.name == entry.name })?.urlEnv { target.variables[own] = url }
        target.secrets = [url]
        return target
    }

    private func redis(_ entry: ArtifactEntry, _ upper: String) throws -> DrillTarget {
        let own = config.redis.first { $0.name == entry.name }?.urlEnv
        if let variable = config.drill.redisURLEnv {
            guard let url = environment[variable], !url.isEmpty else {
                throw CofferError(.config, "[drill] redis_url_env names \(variable), which is not set")
            }
            for live in config.redis {
                if let liveURL = environment[live.urlEnv], let a = try? RedisAddress(url: liveURL), let b = try? RedisAddress(url: url),
                    a.description == b.description
                {
                    throw CofferError(
                        .refused, "[drill] redis_url_env (\(variable)) points at \(b), the live server of [[redis]] \(live.name); a drill empties its server, so it must be another one")
                }
            }
            try scratch.record(.init(kind: "redis-db", name: entry.name, urlEnv: variable), drill: drillID)
            let source = RedisSource(name: entry.name, urlEnv: variable, environment: environment)
            var target = DrillTarget(entry: entry, target: source, description: source.targetDescription)
            target.variables["REDIS_URL_\(upper)"] = url
            if let own { target.variables[own] = url }
            target.secrets = [url]
            target.liveCheck = { try Self.keyspaceCheck(entry, url: url) }
            return target
        }
        let program = try redisServerProgram()
        // A unix socket's path must stay under 108 bytes: the server gets a short private folder of its own.
        let base = environment["TMPDIR"].flatMap { $0.utf8.count <= 60 && $0.hasPrefix("/") ? $0 : nil } ?? "/tmp"
        let serverFolder = FileSystem.join(base, "coffer-redis-" + String(format: "%08x", UInt32.random(in: 0...UInt32.max)))
        try scratch.record(.init(kind: "redis-server", name: serverFolder), drill: drillID)
        // mkdir, not "create if missing": a folder someone else made there must not be used.
        guard mkdir(serverFolder, 0o700) == 0 else { throw SystemError("mkdir", path: serverFolder) }
        let dump = RedisScratchServer.dumpFile(in: serverFolder)
        let source = RedisSource(name: entry.name, urlEnv: "COFFER_DRILL_NO_SERVER", environment: [:], offlineRDB: dump)
        let url = "unix://\(RedisScratchServer.socket(in: serverFolder))"
        var target = DrillTarget(entry: entry, target: source, description: "throwaway redis-server on \(url)")
        target.variables["REDIS_URL_\(upper)"] = url
        if let own { target.variables[own] = url }
        let databases = (entry.stats["keys"]?.objectValue ?? [:]).keys.compactMap { Int($0) }.max().map { $0 + 1 } ?? 16
        let box = ServerBox()
        target.afterCommit = { box.server = try RedisScratchServer(binary: program, folder: serverFolder, databases: databases) }
        target.stop = { box.server?.stop() }
        target.liveCheck = { try Self.keyspaceCheck(entry, url: url) }
        return target
    }

    /// Keys per database as the server holds them, against the manifest's.
    /// Keys whose TTL ran out since the snapshot are dropped when a server
    /// loads the RDB, as in any restore; the server counts them
    /// (`rdb_last_load_keys_expired`), and exactly that many may be missing.
    static func keyspaceCheck(_ entry: ArtifactEntry, url: String) throws -> DrillLiveCheck {
        let connection = try RedisConnection(try RedisAddress(url: url))
        let found = try connection.keyspace()
        let expiredAtLoad = Int(try connection.info("persistence")["rdb_last_load_keys_expired"] ?? "0") ?? 0
        var expected: [Int: Int] = [:]
        for (db, count) in entry.stats["keys"]?.objectValue ?? [:] { if let db = Int(db), let count = count.intValue { expected[db] = Int(count) } }
        let missing = expected.values.reduce(0, +) - found.values.reduce(0, +)
        let ok = found == expected || (missing == expiredAtLoad && expected.allSatisfy { found[$0.key, default: 0] <= $0.value } && found.keys.allSatisfy { expected[$0] != nil })
        var seen: [String: JSONValue] = Dictionary(uniqueKeysWithValues: found.map { (String($0.key), JSONValue.int(Int64($0.value))) })
        if expiredAtLoad > 0 { seen["expired_at_load"] = .int(Int64(expiredAtLoad)) }
        return DrillLiveCheck(
            what: "keys per database, as the restored server holds them (keys that expired since the snapshot excepted)",
            expected: entry.stats["keys"] ?? .object([:]), found: .object(seen), ok: ok)
    }
}

/// A restored target looked at as it is served, against the manifest.
struct DrillLiveCheck {
    let what: String
    let expected: JSONValue
    let found: JSONValue
    let ok: Bool
}

/// Keeps a throwaway server alive for the drill's length (the process ends it with its group).
final class ServerBox {
    var server: RedisScratchServer?
}
