import Foundation

extension Bench {
    /// A database of about 700 MB (`pgbench -i -s 20` plus 1.5 million rows of
    /// random text and jsonb) on the PostgreSQL server `make bench` starts:
    /// `coffer snapshot` against `pg_dump | restic backup --stdin`, `pg_dump |
    /// gzip | age` and bare `pg_dump -Fc -Z0`, the artifact's size against
    /// `pg_dump | gzip`, and `coffer restore` (every check included) against
    /// `age -d | gunzip | psql` and against the floor, `pg_restore -j` of the same
    /// dump from a local file, and `coffer drill` (fetch, verify, restore into
    /// a scratch database, checks, cleanup) against that restore. Alternating, median of the runs.
    static func benchmarkPostgres(_ options: Options, dir: String, report: inout Report) throws {
        let server = try BenchPostgres(part: "PostgreSQL")
        let bin = server.bin
        func shell(_ script: String, _ what: String, extra: [String: String] = [:]) throws -> ChildUsage { try server.shell(script, what, extra: extra) }
        func psql(_ sql: String, _ database: String) throws { try server.psql(sql, database) }
        let project = dir + "/postgres"
        try FileManager.default.createDirectory(atPath: project, withIntermediateDirectories: true)
        let database = "bench_\(getpid())"
        try psql("CREATE DATABASE \(database)", "postgres")
        defer {
            for name in [database, database + "_psql", database + "_coffer", database + "_floor"] { try? psql("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", "postgres") }
        }
        print("")
        print("PostgreSQL: building the database (pgbench -i -s 20, 1.5 million rows of text and jsonb)...")
        let size = try server.build(database, scale: 20, docs: 1_500_000)

        try check(measureChild("age-keygen", ["-o", project + "/age.key"]).status, "age-keygen")
        let recipient = try String(contentsOfFile: project + "/age.key", encoding: .utf8).split(separator: "\n")
            .first { $0.hasPrefix("# public key: ") }.map { String($0.dropFirst(14)) } ?? ""
        try """
            environment = "development"
            repository = "backups"
            keys = "keys"

            [format]
            chunked = false  # the issue 17 comparisons are of format 1 artifacts

            [[postgres]]
            name = "main"
            """.write(toFile: project + "/coffer.toml", atomically: true, encoding: .utf8)
        let coffer = ["COFFER_CONFIG": project + "/coffer.toml", "DATABASE_URL": server.url(database)]
        try check(measureChild(options.coffer, ["keys", "init"], environment: coffer).status, "coffer keys init")
        let restic = ["RESTIC_REPOSITORY": project + "/restic", "RESTIC_PASSWORD": "bench"]
        _ = try shell("restic init -q", "restic init", extra: restic)

        var times: [String: [Double]] = [:]
        var rss = 0
        for _ in 0..<options.postgresRuns {
            times["bare", default: []].append(try shell("pg_dump -Fc -Z0 -d \(database) > /dev/null", "pg_dump -Fc -Z0").seconds)
            times["gzip-age", default: []].append(try shell("pg_dump -d \(database) | gzip | age -r \(recipient) > \(project)/dump.sql.gz.age", "pg_dump | gzip | age").seconds)
            times["restic", default: []].append(try shell("pg_dump -d \(database) | restic backup -q --stdin --stdin-filename dump.sql", "pg_dump | restic", extra: restic).seconds)
            let snapshot = try measureChild(options.coffer, ["snapshot"], environment: coffer)
            try check(snapshot.status, "coffer snapshot")
            times["coffer", default: []].append(snapshot.seconds)
            rss = max(rss, snapshot.maxRSSKiB)
        }
        _ = try shell("pg_dump -d \(database) | gzip > \(project)/dump.sql.gz", "pg_dump | gzip")
        let gzipBytes = Double((try FileManager.default.attributesOfItem(atPath: project + "/dump.sql.gz")[.size] as? NSNumber)?.intValue ?? 0)
        let payloads = try FileManager.default.subpathsOfDirectory(atPath: project + "/backups").filter { $0.hasSuffix("main.pgdump.gz.age-payload") }.sorted()
        let cofferBytes = Double((try FileManager.default.attributesOfItem(atPath: project + "/backups/" + (payloads.last ?? ""))[.size] as? NSNumber)?.intValue ?? 0)

        // The floor: pg_restore -j of the same dump from a local file, no decryption, no checks.
        _ = try shell("pg_dump -Fc -Z0 -d \(database) > \(project)/dump.pgdump", "pg_dump -Fc -Z0 to a file")
        let jobs = max(1, min(8, ProcessInfo.processInfo.activeProcessorCount))
        var restoreRSS = 0
        for _ in 0..<options.postgresRuns {
            for name in [database + "_psql", database + "_coffer", database + "_floor"] { try psql("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", "postgres") }
            try psql("CREATE DATABASE \(database)_floor", "postgres")
            times["floor", default: []].append(
                try shell("\(bin)/pg_restore --exit-on-error --jobs=\(jobs) -d \(database)_floor \(project)/dump.pgdump", "pg_restore -j").seconds)
            try psql("DROP DATABASE \(database)_floor WITH (FORCE)", "postgres")
            try psql("CREATE DATABASE \(database)_psql", "postgres")
            times["psql", default: []].append(
                try shell("age -d -i \(project)/age.key \(project)/dump.sql.gz.age | gunzip | psql -X -q -v ON_ERROR_STOP=1 -d \(database)_psql > /dev/null", "age -d | gunzip | psql").seconds)
            let restore = try measureChild(options.coffer, ["restore", "latest", "--yes", "--to", "main=\(database)_coffer"], environment: coffer)
            try check(restore.status, "coffer restore")
            times["restore", default: []].append(restore.seconds)
            restoreRSS = max(restoreRSS, restore.maxRSSKiB)
            let journals = try FileManager.default.contentsOfDirectory(atPath: project + "/.coffer/restores").filter { $0.hasSuffix(".json") }.sorted()
            try check(measureChild(options.coffer, ["restore", "--finalize", String((journals.last ?? "").dropLast(5))], environment: coffer).status, "finalize")
            let drill = try measureChild(options.coffer, ["drill"], environment: coffer)
            try check(drill.status, "coffer drill")
            times["drill", default: []].append(drill.seconds)
        }

        let m = times.mapValues(median)
        print(String(format: "PostgreSQL, a %.0f MB database, median of %d", size / 1e6, options.postgresRuns))
        for (label, key) in [("coffer snapshot", "coffer"), ("pg_dump | restic backup --stdin", "restic"), ("pg_dump | gzip | age", "gzip-age"),
            ("pg_dump -Fc -Z0 > /dev/null", "bare"), ("coffer restore (all checks)", "restore"), ("age -d | gunzip | psql", "psql"),
            ("pg_restore -j of a local file (floor)", "floor"),
            ("coffer drill (scratch database)", "drill")]
        {
            print("  \(label.padding(toLength: 38, withPad: " ", startingAt: 0)) \(String(format: "%7.2f s", m[key] ?? .nan))")
        }
        print(String(format: "  sizes: coffer artifact %.1f MB, pg_dump | gzip %.1f MB; peak RSS snapshot %.1f MiB, restore %.1f MiB",
            cofferBytes / 1e6, gzipBytes / 1e6, Double(rss) / 1024, Double(restoreRSS) / 1024))
        let c = m["coffer"] ?? .nan
        // Against restic in every run, not only the median: each run's snapshot over the restic run beside it.
        let resticRatios = zip(times["coffer"] ?? [], times["restic"] ?? []).map { $0 / $1 }
        let worstRestic = resticRatios.max() ?? .nan
        print("  snapshot / restic per run: " + resticRatios.map { String(format: "%.2fx", $0) }.joined(separator: " "))
        report.add("pg snapshot / pg_dump | restic, worst run", value: worstRestic, unit: "x", target: "<= 0.70x", passed: worstRestic <= 0.7)
        report.add("pg snapshot / pg_dump | gzip | age", value: c / (m["gzip-age"] ?? .nan), unit: "x", target: "<= 0.50x", passed: c <= 0.5 * (m["gzip-age"] ?? 0))
        report.add("pg artifact size / pg_dump | gzip", value: cofferBytes / gzipBytes, unit: "x", target: "<= 1.10x", passed: cofferBytes <= 1.1 * gzipBytes)
        report.add("pg snapshot / bare pg_dump -Fc -Z0", value: c / (m["bare"] ?? .nan), unit: "x", target: "<= 1.20x", passed: c <= 1.2 * (m["bare"] ?? 0))
        report.add("pg restore / age | gunzip | psql", value: (m["restore"] ?? .nan) / (m["psql"] ?? .nan), unit: "x", target: "<= 0.70x",
            passed: (m["restore"] ?? .infinity) <= 0.7 * (m["psql"] ?? 0))
        print(String(format: "  restore / floor %.2fx; floor / age | gunzip | psql %.2fx", (m["restore"] ?? .nan) / (m["floor"] ?? .nan),
            (m["floor"] ?? .nan) / (m["psql"] ?? .nan)))
        report.add("pg drill / coffer restore", value: (m["drill"] ?? .nan) / (m["restore"] ?? .nan), unit: "x", target: "<= 1.05x",
            passed: (m["drill"] ?? .infinity) <= 1.05 * (m["restore"] ?? 0))
        report.add("pg peak RSS (snapshot, restore)", value: Double(max(rss, restoreRSS)) / 1024, unit: "MiB", target: "<= 96 MiB", passed: max(rss, restoreRSS) <= 96 * 1024)
    }
}

/// The PostgreSQL server `make bench` starts (scripts/with-test-servers.sh),
/// and the shell and psql that reach it, for the benchmarks that dump it.
struct BenchPostgres {
    let host: String, port: String, user: String, password: String, bin: String

    init(part: String) throws {
        let env = ProcessInfo.processInfo.environment
        guard let host = env["COFFER_TEST_PG_HOST"], let port = env["COFFER_TEST_PG_PORT"], let user = env["COFFER_TEST_PG_USER"],
            let password = env["COFFER_TEST_PG_PASSWORD"], let bin = env["COFFER_TEST_PG_BIN"]
        else {
            throw BenchError("the \(part) benchmark needs the server of scripts/with-test-servers.sh (run `make bench`)")
        }
        (self.host, self.port, self.user, self.password, self.bin) = (host, port, user, password, bin)
    }

    /// libpq's variables for the server.
    var environment: [String: String] { ["PGHOST": host, "PGPORT": port, "PGUSER": user, "PGPASSWORD": password] }

    func url(_ database: String) -> String { "postgresql://\(user):\(password)@\(host):\(port)/\(database)" }

    /// Runs `script` in bash with pipefail, measured; a failure names `what`.
    func shell(_ script: String, _ what: String, extra: [String: String] = [:]) throws -> ChildUsage {
        let usage = try measureChild("bash", ["-c", "set -eo pipefail; " + script], environment: environment.merging(extra) { $1 })
        try check(usage.status, what)
        return usage
    }

    func psql(_ sql: String, _ database: String) throws {
        _ = try shell("psql -X -q -v ON_ERROR_STOP=1 -d \(database) -c \"\(sql)\"", String(sql.prefix(60)))
    }

    /// Fills `database` with `pgbench -i -s scale` and `docs` rows of text and jsonb; returns its size in bytes.
    func build(_ database: String, scale: Int, docs: Int) throws -> Double {
        _ = try shell("\(bin)/pgbench -i -q -s \(scale) \(database) >/dev/null 2>&1", "pgbench -i")
        try psql(
            "CREATE TABLE docs AS SELECT g AS id, md5(random()::text) || repeat(md5(random()::text), 3) AS body, jsonb_build_object('n', g, 'r', random(), 'tag', md5(g::text)) AS meta FROM generate_series(1, \(docs)) g",
            database)
        return Double(try measureOutput("psql", ["-X", "-A", "-t", "-d", database, "-c", "SELECT pg_database_size(current_database())"], environment: environment)) ?? 0
    }
}

/// A program's standard output, trimmed.
func measureOutput(_ program: String, _ arguments: [String], environment: [String: String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [program] + arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}
