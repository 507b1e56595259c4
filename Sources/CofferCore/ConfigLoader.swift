import CofferCrypto
import CofferStorage
import CofferSystem
import TOMLKit

/// Reads `coffer.toml` strictly: unknown keys, wrong types and bad names are
/// errors that name the key, so a typo never silently disables a backup.
public enum ConfigLoader {
    /// The config path from `--config`, else `COFFER_CONFIG`, else `./coffer.toml`.
    public static func resolvePath(explicit: String?, environment: [String: String]) -> String {
        FileSystem.absolute(explicit ?? environment["COFFER_CONFIG"] ?? "coffer.toml")
    }

    /// Loads and validates the config file at `path`.
    public static func load(path: String) throws -> CofferConfig {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path, limit: 1 << 20)
        } catch let error as SystemError {
            throw CofferError(.config, "cannot read config \(path): \(error.message); pass --config FILE or set COFFER_CONFIG")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw CofferError(.config, "\(path): not UTF-8 text")
        }
        return try parse(text, path: path)
    }

    /// Parses config text; `path` locates relative paths and names the file in errors.
    public static func parse(_ text: String, path: String) throws -> CofferConfig {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw CofferError(.config, "\(path):\(error.source.begin.line):\(error.source.begin.column): \(error.description)")
        }
        let base = FileSystem.directoryName(of: path)
        var reader = TableReader(table: table, context: path, section: nil, lines: text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
        try reader.allowOnly([
            "environment", "repository", "keys", "retention", "sqlite", "postgres", "redis", "env", "files", "s3", "hooks", "serve", "schedule", "notify",
            "drill", "targets", "offsite", "format",
        ])

        let environmentName = try reader.string("environment") ?? "development"
        guard let environment = EnvironmentKind(rawValue: environmentName) else {
            throw reader.error("environment", "must be one of production, staging, development (got '\(environmentName)')")
        }
        var repository = try reader.string("repository") ?? "backups"
        if !repository.hasPrefix("s3://") { repository = FileSystem.absolute(repository, relativeTo: base) }
        let keys = FileSystem.absolute(try reader.string("keys") ?? "keys", relativeTo: base)

        var retention = CofferConfig.Retention(days: environment.defaultRetentionDays, keepLast: 1)
        if var section = try reader.table("retention") {
            try section.allowOnly(["days", "keep_last"])
            retention.days = try section.int("days", range: 1...36500) ?? retention.days
            retention.keepLast = try section.int("keep_last", range: 1...100000) ?? retention.keepLast
        }

        var chunked: Bool?
        if var section = try reader.table("format") {
            try section.allowOnly(["chunked"])
            chunked = try section.bool("chunked")
        }

        var names = Set<String>()
        func claim(_ name: String, _ reader: TableReader) throws -> String {
            guard isValidName(name) else {
                throw reader.error("name", "'\(name)' must be lowercase letters, digits, '-' or '_' (it names files)")
            }
            guard names.insert(name).inserted else { throw reader.error("name", "'\(name)' is used by two sources") }
            return name
        }

        var sqlite: [CofferConfig.SQLiteSource] = []
        for var entry in try reader.tableArray("sqlite") {
            try entry.allowOnly(["name", "path"])
            let name = try claim(try entry.requiredString("name"), entry)
            sqlite.append(.init(name: name, path: FileSystem.absolute(try entry.requiredString("path"), relativeTo: base)))
        }
        var postgres: [CofferConfig.URLSource] = []
        for var entry in try reader.tableArray("postgres") {
            try entry.allowOnly(["name", "url_env"])
            postgres.append(.init(name: try claim(try entry.requiredString("name"), entry), urlEnv: try entry.string("url_env") ?? "DATABASE_URL"))
        }
        var redis: [CofferConfig.RedisSettings] = []
        for var entry in try reader.tableArray("redis") {
            try entry.allowOnly(["name", "url_env", "staging_dbs", "restore_rdb"])
            redis.append(
                .init(
                    name: try claim(try entry.requiredString("name"), entry), urlEnv: try entry.string("url_env") ?? "REDIS_URL",
                    stagingDBs: try entry.intArray("staging_dbs", range: 0...10_000),
                    restoreRDB: try entry.string("restore_rdb").map { FileSystem.absolute($0, relativeTo: base) }))
        }

        var env: CofferConfig.EnvSource? = nil
        if var section = try reader.table("env") {
            try section.allowOnly(["include", "pattern", "file", "restore_to"])
            env = .init(
                include: try section.stringArray("include") ?? [],
                pattern: try section.string("pattern"),
                file: try section.string("file").map { FileSystem.absolute($0, relativeTo: base) },
                restoreTo: try section.string("restore_to").map { FileSystem.absolute($0, relativeTo: base) })
        }

        var files: [CofferConfig.FilesSettings] = []
        for var entry in try reader.tableArray("files") {
            try entry.allowOnly(["name", "path"])
            let name = try claim(try entry.requiredString("name"), entry)
            files.append(.init(name: name, path: FileSystem.absolute(try entry.requiredString("path"), relativeTo: base)))
        }

        var s3: CofferConfig.S3Settings? = nil
        if var section = try reader.table("s3") {
            try section.allowOnly([
                "endpoint", "region", "access_key_env", "secret_key_env", "session_token_env", "path_style", "object_lock", "lock_days", "ca_file",
            ])
            s3 = .init(
                endpoint: try section.requiredString("endpoint"),
                region: try section.string("region") ?? "us-east-1",
                accessKeyEnv: try section.string("access_key_env") ?? "AWS_ACCESS_KEY_ID",
                secretKeyEnv: try section.string("secret_key_env") ?? "AWS_SECRET_ACCESS_KEY",
                sessionTokenEnv: try section.string("session_token_env") ?? "AWS_SESSION_TOKEN",
                pathStyle: try section.bool("path_style") ?? true)
            s3?.objectLock = try Self.objectLock(&section, retention: retention, environment: environment)
            s3?.caFile = try section.string("ca_file").map { FileSystem.absolute($0, relativeTo: base) }
        }
        var hooks = CofferConfig.Hooks()
        if var section = try reader.table("hooks") {
            try section.allowOnly(["pre_restore", "post_restore"])
            hooks.preRestore = try section.string("pre_restore")
            hooks.postRestore = try section.string("post_restore")
        }

        var serve = CofferConfig.ServeSettings()
        if var section = try reader.table("serve") {
            try section.allowOnly(["listen", "refresh", "read_token_env", "admin_token_env", "read_token_file", "admin_token_file"])
            serve.listen = try section.string("listen") ?? serve.listen
            serve.refresh = try section.int("refresh", range: 5...86_400) ?? serve.refresh
            serve.readTokenEnv = try section.string("read_token_env") ?? serve.readTokenEnv
            serve.adminTokenEnv = try section.string("admin_token_env") ?? serve.adminTokenEnv
            serve.readTokenFile = try section.string("read_token_file").map { FileSystem.absolute($0, relativeTo: base) }
            serve.adminTokenFile = try section.string("admin_token_file").map { FileSystem.absolute($0, relativeTo: base) }
        }

        var schedule = CofferConfig.Schedule()
        if var section = try reader.table("schedule") {
            try section.allowOnly(["on_calendar", "randomized_delay", "user", "environment_file", "cron", "wait", "verify"])
            schedule = try parseSchedule(section, base: base)
        }

        let notify = try notifiers(reader)

        var drill = CofferConfig.DrillSettings()
        if var section = try reader.table("drill") {
            try section.allowOnly(["postgres_url_env", "redis_url_env", "redis_server", "within", "smoke", "smoke_timeout", "max_age_days"])
            drill.postgresURLEnv = try section.string("postgres_url_env")
            drill.redisURLEnv = try section.string("redis_url_env")
            drill.redisServer = try section.string("redis_server").map { FileSystem.absolute($0, relativeTo: base) }
            drill.within = try duration(section, "within") ?? drill.within
            drill.smoke = try section.string("smoke")
            drill.smokeTimeout = try duration(section, "smoke_timeout") ?? drill.smokeTimeout
            drill.maxAgeDays = try section.int("max_age_days", range: 1...3650) ?? drill.maxAgeDays
        }
        var targets = CofferConfig.RecoveryTargets()
        if var section = try reader.table("targets") {
            try section.allowOnly(["rto", "rpo"])
            targets.rto = try duration(section, "rto") ?? targets.rto
            targets.rpo = try duration(section, "rpo") ?? targets.rpo
        }
        var offsite: CofferConfig.Offsite? = nil
        if var section = try reader.table("offsite") {
            try section.allowOnly(["repository"])
            var address = try section.requiredString("repository")
            if !address.hasPrefix("s3://") { address = FileSystem.absolute(address, relativeTo: base) }
            guard address != repository else { throw section.error("repository", "is the main repository; an off-site copy must go elsewhere") }
            if address.hasPrefix("s3://") && s3 == nil {
                throw section.error("repository", "is \(address) but there is no [s3] section with its endpoint")
            }
            offsite = .init(repository: address)
        }

        if repository.hasPrefix("s3://") && s3 == nil {
            throw CofferError(.config, "\(path): repository is \(repository) but there is no [s3] section with its endpoint")
        }

        return CofferConfig(
            path: path, environment: environment, repository: repository, keysDirectory: keys, retention: retention,
            sqlite: sqlite, postgres: postgres, redis: redis, env: env, files: files, s3: s3, chunked: chunked, hooks: hooks, schedule: schedule,
            drill: drill, targets: targets, offsite: offsite, serve: serve, notify: notify)
    }

    static func parseSchedule(_ section: TableReader, base: String) throws -> CofferConfig.Schedule {
        var schedule = CofferConfig.Schedule()
        func duration(_ key: String) throws -> Int? { try ConfigLoader.duration(section, key) }
        if let calendar = try section.string("on_calendar") {
            guard !calendar.trimmingWhitespace().isEmpty, !calendar.contains("\n") else {
                throw section.error("on_calendar", "must be one systemd calendar expression, such as \"*-*-* 03:15:00\"")
            }
            schedule.onCalendar = calendar.trimmingWhitespace()
        }
        schedule.randomizedDelay = try duration("randomized_delay") ?? schedule.randomizedDelay
        schedule.wait = try duration("wait") ?? schedule.wait
        if let user = try section.string("user") {
            let allowed = user.utf8.allSatisfy { (97...122).contains($0) || (65...90).contains($0) || (48...57).contains($0) || $0 == 45 || $0 == 95 || $0 == 46 }
            guard allowed, let first = user.utf8.first, first != 45, user.utf8.count <= 32 else {
                throw section.error("user", "'\(user)' is not a user name")
            }
            schedule.user = user
        }
        if let file = try section.string("environment_file") {
            guard !file.isEmpty, !file.contains("\n") else { throw section.error("environment_file", "must be a file path") }
            schedule.environmentFile = FileSystem.absolute(file, relativeTo: base)
        }
        if let cron = try section.string("cron") {
            guard CronSchedule.isValidFields(cron) else {
                throw section.error("cron", "must be five cron fields (minute hour day-of-month month day-of-week), such as \"15 3 * * *\"")
            }
            schedule.cron = cron.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        }
        schedule.verify = try section.bool("verify") ?? schedule.verify
        return schedule
    }

    /// A duration setting: a number of seconds or text such as "10m", "4h", "30d".
    static func duration(_ section: TableReader, _ key: String) throws -> Int? {
        guard let value = section.table[key] else { return nil }
        if let int = value.int, int >= 0 { return int }
        guard let text = value.string, let seconds = DurationText.seconds(text) else {
            throw section.error(key, "must be a duration such as \"10m\", \"90s\", \"4h\" or \"30d\"")
        }
        return seconds
    }

    /// `[s3] object_lock` and `lock_days`. A lock shorter than retention would
    /// let whoever holds the credentials delete bundles retention still promises.
    static func objectLock(_ section: inout TableReader, retention: CofferConfig.Retention, environment: EnvironmentKind) throws -> S3ObjectLock? {
        let days = try section.int("lock_days", range: 1...36500)
        guard let text = try section.string("object_lock") else {
            if days != nil { throw section.error("lock_days", "is set but object_lock is not; set object_lock = \"compliance\" or \"governance\"") }
            return nil
        }
        guard let mode = S3ObjectLock.Mode(rawValue: text) else {
            throw section.error("object_lock", "must be \"compliance\" or \"governance\" (it is \"\(text)\"); leave it out for no lock")
        }
        let lockDays = days ?? retention.days + 1
        guard lockDays >= retention.days else {
            throw section.error(
                "lock_days",
                "is \(lockDays), shorter than the \(retention.days) days \(environment.rawValue) keeps bundles ([retention] days): bundles would become deletable while retention still promises them; set lock_days to \(retention.days + 1) or more (or leave it out)")
        }
        return S3ObjectLock(mode: mode, seconds: Int64(lockDays) * 86_400)
    }

    static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, (97...122).contains(first) || (48...57).contains(first) else { return false }
        return name.utf8.count <= 64
            && name.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 45 || $0 == 95 }
    }
}

/// Typed access to one TOML table, with errors that name `[section].key`.
struct TableReader {
    let table: TOMLTable
    let context: String
    let section: String?
    /// The file's lines, to point at the line of a bad key.
    let lines: [String]
    /// Which occurrence of an array-of-tables section this is (0 for plain tables).
    var occurrence = 0

    func error(_ key: String, _ message: String) -> CofferError {
        let name = section.map { "[\($0)] \(key)" } ?? key
        let location = line(of: key).map { ":\($0)" } ?? ""
        return CofferError(.config, "\(context)\(location): \(name) \(message)")
    }

    /// The 1-based line where `key` is set in this table, when it can be found.
    func line(of key: String) -> Int? {
        var start = 0
        var end = lines.count
        if let section {
            let header = section.split(separator: " ").first.map(String.init) ?? section
            let headers = lines.indices.filter {
                let trimmed = lines[$0].trimmingWhitespace()
                return trimmed == "[\(header)]" || trimmed == "[[\(header)]]"
            }
            guard occurrence < headers.count else { return nil }
            start = headers[occurrence] + 1
            end = lines[start...].firstIndex { $0.trimmingWhitespace().hasPrefix("[") } ?? lines.count
        } else {
            end = lines.firstIndex { $0.trimmingWhitespace().hasPrefix("[") } ?? lines.count
        }
        return (start..<end).first { index in
            let trimmed = lines[index].trimmingWhitespace()
            return trimmed.hasPrefix(key) && trimmed.dropFirst(key.count).trimmingWhitespace().hasPrefix("=")
        }.map { $0 + 1 }
    }

    mutating func allowOnly(_ keys: Set<String>) throws {
        for key in table.keys where !keys.contains(key) {
            throw error(key, "is not a known setting (known: \(keys.sorted().joined(separator: ", ")))")
        }
    }

    func string(_ key: String) throws -> String? {
        guard let value = table[key] else { return nil }
        guard let string = value.string else { throw error(key, "must be a string") }
        return string
    }

    func requiredString(_ key: String) throws -> String {
        guard let value = try string(key), !value.isEmpty else { throw error(key, "is required") }
        return value
    }

    func int(_ key: String, range: ClosedRange<Int>) throws -> Int? {
        guard let value = table[key] else { return nil }
        guard let int = value.int else { throw error(key, "must be an integer") }
        guard range.contains(int) else { throw error(key, "must be between \(range.lowerBound) and \(range.upperBound)") }
        return int
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = table[key] else { return nil }
        guard let bool = value.bool else { throw error(key, "must be true or false") }
        return bool
    }

    func stringArray(_ key: String) throws -> [String]? {
        guard let value = table[key] else { return nil }
        guard let array = value.array else { throw error(key, "must be an array of strings") }
        return try array.map { element in
            guard let string = element.string else { throw error(key, "must be an array of strings") }
            return string
        }
    }

    func intArray(_ key: String, range: ClosedRange<Int>) throws -> [Int]? {
        guard let value = table[key] else { return nil }
        guard let array = value.array else { throw error(key, "must be an array of integers") }
        return try array.map { element in
            guard let int = element.int, range.contains(int) else {
                throw error(key, "must be an array of integers between \(range.lowerBound) and \(range.upperBound)")
            }
            return int
        }
    }

    func table(_ key: String) throws -> TableReader? {
        guard let value = table[key] else { return nil }
        guard let inner = value.table else { throw error(key, "must be a table ([\(key)])") }
        return TableReader(table: inner, context: context, section: key, lines: lines)
    }

    func tableArray(_ key: String) throws -> [TableReader] {
        guard let value = table[key] else { return [] }
        guard let array = value.array else { throw error(key, "must be an array of tables ([[\(key)]])") }
        return try array.enumerated().map { index, element in
            guard let inner = element.table else { throw error(key, "must be an array of tables ([[\(key)]])") }
            return TableReader(table: inner, context: context, section: "\(key) #\(index + 1)", lines: lines, occurrence: index)
        }
    }
}
