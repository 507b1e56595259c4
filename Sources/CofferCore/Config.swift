import CofferStorage

/// Which kind of environment a repository backs up; it sets retention defaults
/// and freshness expectations.
public enum EnvironmentKind: String, Sendable, CaseIterable {
    case production, staging, development

    /// Days of bundles kept by default.
    public var defaultRetentionDays: Int {
        switch self {
        case .production: return 30
        case .staging: return 14
        case .development: return 7
        }
    }
}

/// `coffer.toml`, resolved: every path absolute (relative paths in the file are
/// relative to the file's folder). Secrets are never in it: it names the
/// environment variables that hold them.
public struct CofferConfig: Sendable {
    /// The config file.
    public var path: String
    /// The environment name (also the key file name, `keys/ENV.age`).
    public var environment: EnvironmentKind
    /// A local folder (absolute) or an `s3://bucket/prefix` URL.
    public var repository: String
    /// The keys folder (absolute).
    public var keysDirectory: String
    public var retention: Retention
    public var sqlite: [SQLiteSource]
    public var postgres: [URLSource]
    public var redis: [RedisSettings]
    public var env: EnvSource?
    /// `[[files]]`: files and folders, each sealed as a tar artifact.
    public var files: [FilesSettings] = []
    public var s3: S3Settings?
    /// `[format] chunked`: format v2 (deduplicated chunks) or v1; nil: what the
    /// repository descriptor says (v2 for a repository created by this release).
    public var chunked: Bool?
    public var hooks = Hooks()
    /// `[schedule]`: when and how `coffer schedule` runs the snapshot unattended.
    public var schedule = Schedule()

    /// `[schedule]`. Without `on_calendar`, production runs daily and staging
    /// weekly; development has no schedule unless it sets one.
    public struct Schedule: Sendable {
        /// A systemd `OnCalendar=` expression, such as `*-*-* 03:15:00`.
        public var onCalendar: String?
        /// Seconds of random delay so that many hosts do not start at once (`RandomizedDelaySec=`).
        public var randomizedDelay = 600
        /// The user that runs it (systemd `User=`; the cron.d user field, default root).
        public var user: String?
        /// The file with the variables the config's `*_env` keys name (systemd `EnvironmentFile=`; sourced under cron).
        public var environmentFile: String?
        /// Five cron fields, for a calendar expression cron cannot express exactly.
        public var cron: String?
        /// How long the scheduled snapshot waits for a run that holds the repository lock (`--wait`), in seconds.
        public var wait = 1800
        /// Whether `verify latest --deep` follows a successful snapshot.
        public var verify = true

        public init() {}
    }

    /// `[drill]`: where restore drills restore to and how they test the result.
    public var drill = DrillSettings()
    /// `[targets]`: the recovery objectives drills are judged against.
    public var targets = RecoveryTargets()
    /// `[offsite]`: a second repository (another folder, or S3 on the `[s3]` server)
    /// that `deploy-gate` copies to and `drill --from offsite` restores from.
    public var offsite: Offsite?

    /// `[drill]`. Scratch targets go to the configured servers unless a drill
    /// server is named here; Redis gets a throwaway `redis-server` unless `redis_url_env` is set.
    public struct DrillSettings: Sendable {
        /// A variable holding the URL of a PostgreSQL server for scratch databases (default: each source's own server).
        public var postgresURLEnv: String?
        /// A variable holding the URL of a Redis server to restore into instead of a throwaway one.
        public var redisURLEnv: String?
        /// The `redis-server` program for throwaway servers (default: found on PATH).
        public var redisServer: String?
        /// How far back `--pick random` looks, in seconds (default 30 days).
        public var within = 30 * 86_400
        /// The default smoke command (`/bin/sh -c`), run against the scratch targets.
        public var smoke: String?
        /// Seconds the smoke command may take before its process group is killed.
        public var smokeTimeout = 600
        /// Days after which the last passing drill is too old (`status` warns, `deploy-gate` fails).
        public var maxAgeDays = 90

        public init() {}
    }

    /// `[targets]`: recovery time and recovery point objectives, in seconds.
    public struct RecoveryTargets: Sendable {
        public var rto = 4 * 3600
        public var rpo = 24 * 3600
    }

    public struct Offsite: Sendable {
        public var repository: String
    }

    public var serve = ServeSettings()
    /// `[[notify]]`: where run outcomes and problems are announced.
    public var notify: [Notifier] = []

    /// `coffer serve`: where it listens, how often it reads the repository, and
    /// where its bearer tokens come from (variables or files, never the config).
    public struct ServeSettings: Sendable {
        public var listen = "127.0.0.1:9187"
        /// Seconds between two looks at the repository; scrapes in between cost it nothing.
        public var refresh = 300
        public var readTokenEnv = "COFFER_READ_TOKEN"
        public var adminTokenEnv = "COFFER_ADMIN_TOKEN"
        public var readTokenFile: String?
        public var adminTokenFile: String?
    }

    /// Commands run around a restore's commit (`/bin/sh -c`), such as stopping and
    /// starting the application. `post_restore` runs whether the commit succeeded or was undone.
    public struct Hooks: Sendable {
        public var preRestore: String?
        public var postRestore: String?
    }

    public struct Retention: Sendable {
        public var days: Int
        public var keepLast: Int
    }

    public struct SQLiteSource: Sendable {
        public var name: String
        public var path: String
    }

    /// A source whose connection string is read from an environment variable.
    public struct URLSource: Sendable {
        public var name: String
        public var urlEnv: String
    }

    /// A Redis server; `url_env` names the variable with its URL.
    public struct RedisSettings: Sendable {
        public var name: String
        public var urlEnv: String
        /// Empty databases a live restore stages into; nil picks them from the top.
        public var stagingDBs: [Int]?
        /// Restore writes this `dump.rdb` for a stopped server instead of the live one.
        public var restoreRDB: String?
    }

    public struct EnvSource: Sendable {
        public var include: [String]
        public var pattern: String?
        /// A dotenv file to read instead of the process environment.
        public var file: String?
        /// Where restore writes the variables.
        public var restoreTo: String?
    }

    /// A `[[files]]` entry: one file or one folder, backed up as a tar and restored whole.
    public struct FilesSettings: Sendable {
        public var name: String
        /// The file or folder (absolute; relative in the config to its folder).
        public var path: String
    }

    public struct S3Settings: Sendable {
        public var endpoint: String
        public var region: String
        public var accessKeyEnv: String
        public var secretKeyEnv: String
        public var sessionTokenEnv: String
        public var pathStyle: Bool
        /// `object_lock` and `lock_days` (default: retention days plus one): the
        /// retention every bundle object and journal event is written with.
        public var objectLock: S3ObjectLock? = nil
        /// `ca_file`: a private CA the https endpoint's certificate may chain to, besides the system's.
        public var caFile: String? = nil
    }
}

extension CofferConfig {
    /// The same configuration for another environment (`--env`), or itself when `name` is nil.
    public func selecting(environment name: String?) throws -> CofferConfig {
        guard let name else { return self }
        guard let kind = EnvironmentKind(rawValue: name) else {
            throw CofferError(.config, "--env \(name): expected one of \(EnvironmentKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var copy = self
        copy.environment = kind
        return copy
    }
}
