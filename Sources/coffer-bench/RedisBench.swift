import Foundation

extension Bench {
    /// A redis-server holding `DEBUG POPULATE N key 100`: `coffer snapshot`
    /// against `redis-cli --rdb` (target <= 1.05x the time), and a live `coffer
    /// restore` against the server's own `DEBUG RELOAD` (<= 3x), with coffer's
    /// peak RSS (<= 96 MiB). Runs alternate; medians.
    static func benchmarkRedis(_ options: Options, dir: String, report: inout Report) throws {
        let project = dir + "/redis"
        try FileManager.default.createDirectory(atPath: project, withIntermediateDirectories: true)
        let password = UUID().uuidString
        let port = Int.random(in: 30_000...45_000)
        try """
            port \(port)
            bind 127.0.0.1
            requirepass \(password)
            dir \(project)
            save ""
            appendonly no
            enable-debug-command yes
            """.write(toFile: project + "/redis.conf", atomically: true, encoding: .utf8)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["redis-server", project + "/redis.conf"]
        server.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try server.run()
        defer {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        let cliEnvironment = ["REDISCLI_AUTH": password]
        func cli(_ arguments: String...) throws -> ChildUsage {
            try measureChild("redis-cli", ["-p", String(port)] + arguments, environment: cliEnvironment)
        }
        for _ in 0..<100 where (try? cli("PING"))?.status != 0 { usleep(50_000) }
        try check(cli("DEBUG", "POPULATE", String(options.redisKeys), "key", "100").status, "DEBUG POPULATE")

        try """
            environment = "development"
            repository = "backups"
            keys = "keys"

            [[redis]]
            name = "cache"
            """.write(toFile: project + "/coffer.toml", atomically: true, encoding: .utf8)
        let environment = ["COFFER_CONFIG": project + "/coffer.toml", "REDIS_URL": "redis://:\(password)@127.0.0.1:\(port)"]
        try check(measureChild(options.coffer, ["keys", "init"], environment: environment).status, "coffer keys init")

        // Both transfer forms: diskless (Redis 7's default; the delay set to 0 so
        // neither tool measures the wait) streams while the server writes, so
        // coffer's work overlaps it; disk-based sends a finished file, after which
        // coffer still compresses, encrypts and checks while redis-cli only copies.
        var snapshots: [(String, Paired, Int)] = []
        for (form, diskless) in [("diskless", "yes"), ("disk-based", "no")] {
            try check(cli("CONFIG", "SET", "repl-diskless-sync", diskless, "repl-diskless-sync-delay", "0").status, "CONFIG SET")
            var snapshot = Paired()
            var rss = 0
            for _ in 0..<options.redisRuns {
                let reference = try cli("--rdb", project + "/reference.rdb")
                try check(reference.status, "redis-cli --rdb")
                let coffer = try measureChild(options.coffer, ["snapshot"], environment: environment)
                try check(coffer.status, "coffer snapshot")
                snapshot.reference.append(reference.seconds)
                snapshot.coffer.append(coffer.seconds)
                rss = max(rss, coffer.maxRSSKiB)
            }
            snapshots.append((form, snapshot, rss))
        }
        try check(measureChild(options.coffer, ["verify", "latest", "--deep"], environment: environment).status, "coffer verify --deep")

        var restore = Paired()
        var restoreRSS = 0
        for _ in 0..<options.redisRuns {
            let reload = try cli("DEBUG", "RELOAD")
            try check(reload.status, "DEBUG RELOAD")
            let coffer = try measureChild(options.coffer, ["restore", "latest", "--yes"], environment: environment)
            try check(coffer.status, "coffer restore")
            restore.reference.append(reload.seconds)
            restore.coffer.append(coffer.seconds)
            restoreRSS = max(restoreRSS, coffer.maxRSSKiB)
            // Drop the kept pre-restore data so the next run stages into empty databases again.
            let journals = try FileManager.default.contentsOfDirectory(atPath: project + "/.coffer/restores").sorted()
            guard let last = journals.last(where: { $0.hasSuffix(".json") }) else { throw BenchError("no restore journal") }
            try check(
                measureChild(options.coffer, ["restore", "--finalize", String(last.dropLast(5))], environment: environment).status, "coffer restore --finalize")
        }
        // The restores must have put every key back, or the numbers mean nothing.
        try check(
            measureChild("sh", ["-c", "test \"$(redis-cli -p \(port) DBSIZE)\" = \(options.redisKeys)"], environment: cliEnvironment).status,
            "all \(options.redisKeys) keys restored")
        print("")
        print("Redis, \(options.redisKeys) keys (DEBUG POPULATE ... 100), median of \(options.redisRuns)")
        for (form, snapshot, rss) in snapshots {
            print(String(format: "  snapshot (%@)  coffer %6.2f s   redis-cli --rdb %6.2f s   time ratio %.2fx   peak RSS %5.1f MiB",
                form, median(snapshot.coffer), median(snapshot.reference), 1 / snapshot.ratio, Double(rss) / 1024))
        }
        print(String(format: "  restore               coffer %6.2f s   DEBUG RELOAD    %6.2f s   time ratio %.2fx   peak RSS %5.1f MiB",
            median(restore.coffer), median(restore.reference), 1 / restore.ratio, Double(restoreRSS) / 1024))
        for (form, snapshot, _) in snapshots {
            report.add("redis snapshot / redis-cli --rdb, \(form)", value: 1 / snapshot.ratio, unit: "x", target: "<= 1.05x", passed: 1 / snapshot.ratio <= 1.05)
        }
        report.add("redis live restore time / DEBUG RELOAD", value: 1 / restore.ratio, unit: "x", target: "<= 3.00x", passed: 1 / restore.ratio <= 3)
        report.add("redis restore peak RSS", value: Double(restoreRSS) / 1024, unit: "MiB", target: "<= 96 MiB", passed: restoreRSS <= 96 * 1024)
        let snapshotRSS = snapshots.map(\.2).max() ?? 0
        report.add("redis snapshot peak RSS", value: Double(snapshotRSS) / 1024, unit: "MiB", target: "<= 96 MiB", passed: snapshotRSS <= 96 * 1024)
    }
}
