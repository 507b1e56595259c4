import CofferFormat
import CofferSources

/// The configured sources, as snapshot sources and restore targets.
public enum SourceCatalog {
    /// Every configured source, in config order (SQLite, PostgreSQL, Redis, env, then
    /// `[[files]]`): artifacts appear in the manifest, and targets commit, in this order.
    /// `databases` sends PostgreSQL sources' restores to other databases (`--to NAME=DB`);
    /// `inPlace` restores them inside one transaction instead of through a staging database.
    public static func sources(
        _ config: CofferConfig, environment: [String: String], databases: [String: String] = [:], inPlace: Bool = false
    ) throws -> [any SnapshotSource & RestoreTarget] {
        for name in databases.keys where !config.postgres.contains(where: { $0.name == name }) {
            throw CofferError(.config, "--to \(name)=...: \(config.path) has no [[postgres]] source named \(name)")
        }
        var sources: [any SnapshotSource & RestoreTarget] = config.sqlite.map { SQLiteSource(name: $0.name, path: $0.path) }
        sources += config.postgres.map {
            var source = PostgresSource(name: $0.name, urlEnv: $0.urlEnv, environment: environment, database: databases[$0.name])
            source.inPlace = inPlace
            return source
        }
        sources += config.redis.map {
            RedisSource(name: $0.name, urlEnv: $0.urlEnv, environment: environment, stagingDBs: $0.stagingDBs, offlineRDB: $0.restoreRDB)
        }
        if let env = config.env {
            sources.append(EnvSource(include: env.include, pattern: env.pattern, file: env.file, restoreTo: env.restoreTo ?? env.file, environment: environment))
        }
        sources += config.files.map { FilesSource(name: $0.name, path: $0.path, fault: environment["COFFER_FAULT"]) }
        guard !sources.isEmpty else {
            throw CofferError(.config, "\(config.path) configures nothing to back up; add a [[sqlite]], [[postgres]], [[redis]], [[files]] or an [env] section")
        }
        return sources
    }

    /// The configured target for an artifact of a bundle, by name and kind.
    public static func target(for entry: ArtifactEntry, in sources: [any SnapshotSource & RestoreTarget]) -> (any SnapshotSource & RestoreTarget)? {
        sources.first { $0.name == entry.name && $0.kind == entry.kind }
    }
}
