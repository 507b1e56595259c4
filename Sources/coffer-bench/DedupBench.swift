import Foundation

extension Bench {
    /// The storage experiment of format v2 (issue 18): a PostgreSQL database
    /// of about `--dedup-mb` MB (pgbench tables plus rows of text and jsonb)
    /// snapshotted daily for `--dedup-days` days, once where each day changes
    /// one region and appends rows (orders, events, logs), once where the
    /// changes are spread over every page. Each day `coffer snapshot` (format 2)
    /// and `pg_dump | restic backup --stdin` run on the same data; the table
    /// gives both repositories' size per day and the snapshot times. After the
    /// last day: an unchanged day's snapshot against a format 1 snapshot of the
    /// same data, and the restore of the last day (coffer v2, v1, and restic
    /// into psql).
    static func benchmarkDedup(_ options: Options, dir: String, report: inout Report) throws {
        let server = try BenchPostgres(part: "dedup")
        func shell(_ script: String, _ what: String, extra: [String: String] = [:]) throws -> ChildUsage { try server.shell(script, what, extra: extra) }
        func psql(_ sql: String, database: String = "postgres") throws { try server.psql(sql, database) }
        let base = "dedup_base_\(getpid())"
        let scale = max(1, Int((20.0 * Double(options.dedupMB) / 720).rounded()))
        let docs = max(10_000, 1_500_000 * options.dedupMB / 720)
        try psql("CREATE DATABASE \(base)")
        var databases = [base]
        defer { for name in databases { try? psql("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") } }
        print("")
        print("Dedup: building the database (pgbench -i -s \(scale), \(docs) rows of text and jsonb)...")
        let size = try server.build(base, scale: scale, docs: docs)
        let accounts = scale * 100_000
        let appended = max(100, docs / 300)

        for pattern in ["region", "spread"] {
            let database = "dedup_\(pattern)_\(getpid())"
            databases += [database, database + "_v2", database + "_v1", database + "_restic"]
            try psql("CREATE DATABASE \(database) TEMPLATE \(base)")
            let project = dir + "/dedup-" + pattern
            try FileManager.default.createDirectory(atPath: project, withIntermediateDirectories: true)
            for (name, chunked) in [("v2", true), ("v1", false)] {
                try """
                    environment = "development"
                    repository = "backups-\(name)"
                    keys = "keys"

                    [format]
                    chunked = \(chunked)

                    [[postgres]]
                    name = "main"
                    """.write(toFile: "\(project)/\(name).toml", atomically: true, encoding: .utf8)
            }
            let url = server.url(database)
            func coffer(_ name: String) -> [String: String] { ["COFFER_CONFIG": "\(project)/\(name).toml", "DATABASE_URL": url] }
            try check(measureChild(options.coffer, ["keys", "init"], environment: coffer("v2")).status, "coffer keys init")
            let restic = ["RESTIC_REPOSITORY": project + "/restic", "RESTIC_PASSWORD": "bench"]
            _ = try shell("restic init -q", "restic init", extra: restic)

            print("")
            print(String(format: "Dedup, %@ changes, a %.0f MB database, %d days", pattern, size / 1e6, options.dedupDays))
            print("  day   coffer MiB   restic MiB   coffer s   restic s")
            var cofferTimes: [Double] = [], resticTimes: [Double] = []
            var last = (coffer: 0.0, restic: 0.0)
            for day in 1...options.dedupDays {
                if day > 1 {
                    let start = (day * 7919) % max(1, accounts - accounts / 100)
                    let change =
                        pattern == "region"
                        ? "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid BETWEEN \(start) AND \(start + accounts / 100)"
                        : "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 997 = \(day); UPDATE docs SET meta = meta || jsonb_build_object('d', \(day)) WHERE id % 997 = \(day)"
                    try psql(
                        "\(change); INSERT INTO docs SELECT g, md5(random()::text) || repeat(md5(random()::text), 3), jsonb_build_object('n', g, 'day', \(day)) FROM generate_series((SELECT max(id) + 1 FROM docs), (SELECT max(id) + \(appended) FROM docs)) g",
                        database: database)
                }
                let snapshot = try measureChild(options.coffer, ["snapshot"], environment: coffer("v2"))
                try check(snapshot.status, "coffer snapshot (day \(day))")
                let backup = try shell("pg_dump -d \(database) | restic backup -q --stdin --stdin-filename dump.sql", "pg_dump | restic", extra: restic)
                last = (folderBytes(project + "/backups-v2"), folderBytes(project + "/restic"))
                if day > 1 {
                    cofferTimes.append(snapshot.seconds)
                    resticTimes.append(backup.seconds)
                }
                print(String(format: "  %3d   %10.1f   %10.1f   %8.2f   %8.2f", day, last.coffer / 1_048_576, last.restic / 1_048_576, snapshot.seconds, backup.seconds))
            }
            print(String(format: "  days 2-%d: coffer snapshot median %.2f s, restic %.2f s", options.dedupDays, median(cofferTimes), median(resticTimes)))

            // An unchanged day against a format 1 snapshot of the same data.
            var unchanged: [Double] = [], v1: [Double] = []
            for _ in 0..<2 {
                let v2run = try measureChild(options.coffer, ["snapshot"], environment: coffer("v2"))
                try check(v2run.status, "coffer snapshot (unchanged)")
                unchanged.append(v2run.seconds)
                let v1run = try measureChild(options.coffer, ["snapshot"], environment: coffer("v1"))
                try check(v1run.status, "coffer snapshot (format 1)")
                v1.append(v1run.seconds)
            }
            // The last day restored: format 2, format 1, and restic's dump into psql.
            var restores: [String: Double] = [:]
            for name in ["v2", "v1"] {
                let restore = try measureChild(options.coffer, ["restore", "latest", "--yes", "--to", "main=\(database)_\(name)"], environment: coffer(name))
                try check(restore.status, "coffer restore (\(name))")
                restores[name] = restore.seconds
            }
            try psql("CREATE DATABASE \(database)_restic")
            restores["restic"] = try shell("restic dump -q latest dump.sql | psql -X -q -v ON_ERROR_STOP=1 -d \(database)_restic > /dev/null", "restic dump | psql", extra: restic).seconds
            let stats = try measureOutput(options.coffer, ["stats"], environment: coffer("v2"))
            print("  " + (stats.split(separator: "\n").dropFirst().first.map(String.init) ?? ""))
            print(String(format: "  unchanged day: format 2 %.2f s, format 1 %.2f s; restore of the last day: format 2 %.2f s, format 1 %.2f s, restic dump | psql %.2f s",
                median(unchanged), median(v1), restores["v2"] ?? .nan, restores["v1"] ?? .nan, restores["restic"] ?? .nan))

            let storage = last.coffer / last.restic
            report.add("dedup \(pattern): repository after \(options.dedupDays) days / restic's", value: storage, unit: "x", target: "<= 1.20x", passed: storage <= 1.2)
            let snapshotRatio = median(unchanged) / median(v1)
            report.add("dedup \(pattern): unchanged day snapshot / format 1 snapshot", value: snapshotRatio, unit: "x", target: "<= 0.50x", passed: snapshotRatio <= 0.5)
            let restoreRatio = (restores["v2"] ?? .nan) / (restores["v1"] ?? .nan)
            report.add("dedup \(pattern): restore format 2 / format 1", value: restoreRatio, unit: "x", target: "<= 1.00x", passed: restoreRatio <= 1.0)
        }
    }

    /// Bytes of every file under `path`.
    static func folderBytes(_ path: String) -> Double {
        let files = FileManager.default.enumerator(atPath: path)?.allObjects as? [String] ?? []
        return files.reduce(0.0) { total, file in
            let attributes = try? FileManager.default.attributesOfItem(atPath: path + "/" + file)
            guard attributes?[.type] as? FileAttributeType == .typeRegular else { return total }
            return total + Double((attributes?[.size] as? NSNumber)?.intValue ?? 0)
        }
    }
}
