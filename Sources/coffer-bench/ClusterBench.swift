import Foundation

extension Bench {
    /// `coffer snapshot` of the S3 benchmark's database (`--s3-mb`, 700 MB) to the SeaweedFS cluster of
    /// scripts/s3-cluster.sh (a master, three volume servers with replication 001, so every chunk is written to two
    /// of them, and a filer and an S3 gateway of their own) and to the single `weed mini` of the `s3` part, alternating,
    /// median of `--s3-runs`: what the extra hops and the second copy of a real cluster cost a snapshot. Both keep
    /// their data on the same disk; the ratio's target (1.5x) leaves room for the second copy on a 2-core machine.
    static func benchmarkClusterSnapshot(_ options: Options, dir: String, report: inout Report) throws {
        let mini = try BenchS3Server(for: "cluster")
        let cluster = try BenchS3Server(for: "cluster", variables: "COFFER_TEST_CLUSTER", what: "SeaweedFS cluster")
        let project = dir + "/cluster-project"
        try FileManager.default.createDirectory(atPath: project + "/data", withIntermediateDirectories: true)
        func environment(_ name: String, _ server: BenchS3Server) throws -> [String: String] {
            try bigSQLiteConfig(repository: "s3://\(server.bucket)/bench-cluster-\(getpid())", endpoint: server.endpoint)
                .write(toFile: "\(project)/\(name).toml", atomically: true, encoding: .utf8)
            return ["COFFER_CONFIG": "\(project)/\(name).toml"].merging(server.credentials) { $1 }
        }
        let toMini = try environment("mini", mini), toCluster = try environment("cluster", cluster)
        try check(measureChild(options.coffer, ["keys", "init"], environment: toMini).status, "coffer keys init")
        let database = project + "/data/big.db"
        try makeSQLiteDatabase(database, megabytes: options.s3MB)
        let sizeMB = Double((try FileManager.default.attributesOfItem(atPath: database)[.size] as? Int) ?? 0) / 1_000_000

        var miniTimes: [Double] = [], clusterTimes: [Double] = [], miniPeak = 0, clusterPeak = 0
        for _ in 0..<options.s3Runs {
            let one = try measureChild(options.coffer, ["snapshot"], environment: toMini)
            try check(one.status, "coffer snapshot to weed mini")
            let replicated = try measureChild(options.coffer, ["snapshot"], environment: toCluster)
            try check(replicated.status, "coffer snapshot to the SeaweedFS cluster")
            miniTimes.append(one.seconds)
            clusterTimes.append(replicated.seconds)
            (miniPeak, clusterPeak) = (max(miniPeak, one.maxRSSKiB), max(clusterPeak, replicated.maxRSSKiB))
        }
        // The numbers mean something only if the cluster holds what it was given.
        try check(measureChild(options.coffer, ["verify", "latest", "--deep"], environment: toCluster).status, "coffer verify --deep on the cluster")

        let ratio = median(clusterTimes) / median(miniTimes)
        print("")
        print(String(format: "snapshot of a %.0f MB SQLite database to SeaweedFS on loopback: one weed mini vs a cluster (3 volume servers, replication 001, filer, gateway; median of %d, alternating)", sizeMB, options.s3Runs))
        print(String(format: "  to weed mini       %6.2f s  %7.1f MB/s  peak RSS %6.1f MiB", median(miniTimes), sizeMB / median(miniTimes), Double(miniPeak) / 1024))
        print(String(format: "  to the cluster     %6.2f s  %7.1f MB/s  peak RSS %6.1f MiB  (%.2fx weed mini)", median(clusterTimes), sizeMB / median(clusterTimes), Double(clusterPeak) / 1024, ratio))
        report.add("cluster snapshot time / weed mini time", value: ratio, unit: "x", target: "<= 1.5x", passed: ratio <= 1.5)
    }
}
