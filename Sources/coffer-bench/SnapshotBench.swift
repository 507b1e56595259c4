import Foundation

extension Bench {
    /// Peak RSS and time of `coffer snapshot` and `coffer restore` of a large
    /// SQLite database (half incompressible blobs, half text), against the
    /// 96 MiB target; and `sqlite3 .backup` + `gzip` + `age` for the time it takes
    /// the shell recipe to do the same work.
    static func benchmarkSnapshot(_ options: Options, dir: String, report: inout Report) throws {
        let project = dir + "/project"
        try FileManager.default.createDirectory(atPath: project + "/data", withIntermediateDirectories: true)
        let config = project + "/coffer.toml"
        try """
            environment = "development"
            repository = "backups"
            keys = "keys"

            [[sqlite]]
            name = "big"
            path = "data/big.db"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let environment = ["COFFER_CONFIG": config]
        try check(measureChild(options.coffer, ["keys", "init"], environment: environment).status, "coffer keys init")

        let database = project + "/data/big.db"
        try makeSQLiteDatabase(database, megabytes: options.sqliteMB)
        let size = (try FileManager.default.attributesOfItem(atPath: database)[.size] as? Int) ?? 0
        let sizeMB = Double(size) / 1_000_000

        let snapshot = try measureChild(options.coffer, ["snapshot"], environment: environment)
        try check(snapshot.status, "coffer snapshot")
        try check(run("sqlite3", [database, "DELETE FROM events WHERE id % 2 = 0"]), "changing the database")
        let restore = try measureChild(options.coffer, ["restore", "latest", "--yes"], environment: environment)
        try check(restore.status, "coffer restore")

        // The shell recipe it replaces, for the time it takes (no verification, no atomicity).
        let key = project + "/keys/development.age.pub"
        let recipe = try measureChild("sh", ["-c", "sqlite3 '\(database)' \".backup '\(dir)/recipe.db'\" && gzip -6 -c '\(dir)/recipe.db' | age -R '\(key)' > '\(dir)/recipe.gz.age'"])
        try check(recipe.status, "sqlite3 .backup | gzip | age")

        print("")
        print(String(format: "snapshot and restore of a %.0f MB SQLite database (WAL), release build", sizeMB))
        print(String(format: "  coffer snapshot   %6.1f s  %7.1f MB/s  peak RSS %6.1f MiB", snapshot.seconds, sizeMB / snapshot.seconds, Double(snapshot.maxRSSKiB) / 1024))
        print(String(format: "  coffer restore    %6.1f s  %7.1f MB/s  peak RSS %6.1f MiB", restore.seconds, sizeMB / restore.seconds, Double(restore.maxRSSKiB) / 1024))
        print(String(format: "  shell recipe      %6.1f s  (sqlite3 .backup; gzip -6 | age, single-threaded gzip)", recipe.seconds))
        report.add("snapshot peak RSS (\(Int(sizeMB)) MB SQLite)", value: Double(snapshot.maxRSSKiB) / 1024, unit: "MiB", target: "< 96 MiB", passed: snapshot.maxRSSKiB < 96 * 1024)
        report.add("restore peak RSS (\(Int(sizeMB)) MB SQLite)", value: Double(restore.maxRSSKiB) / 1024, unit: "MiB", target: "< 96 MiB", passed: restore.maxRSSKiB < 96 * 1024)
    }

    /// A SQLite database (WAL) of about `megabytes`: half incompressible blobs, half text.
    static func makeSQLiteDatabase(_ path: String, megabytes: Int) throws {
        let rows = megabytes * 1_000_000 / 1370
        let sql = """
            PRAGMA journal_mode = WAL;
            CREATE TABLE events(id INTEGER PRIMARY KEY, payload BLOB, note TEXT);
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(rows))
            INSERT INTO events(payload, note) SELECT randomblob(500),
              printf('order %d for customer-%d@example.com paid %d.%02d EUR on 2026-%02d-%02d %s', i, i % 977, i % 1000, i % 100, i % 12 + 1, i % 28 + 1, substr('status:shipped status:paid   status:pending', i % 3 * 15 + 1, 15)) || zeroblob(0) || printf('%0500d', 0)
            FROM n;
            """
        try check(run("sqlite3", [path, sql]), "creating the SQLite database")
    }
}
