import Foundation

extension Bench {
    /// `coffer snapshot` of the same database to a local folder and to the
    /// SeaweedFS server that `make bench` starts (COFFER_TEST_S3_*), alternating,
    /// median of the runs: the S3 target is 1.15x the local time and 96 MiB peak RSS;
    /// then restores of it from both, alternating, with the same target.
    /// The local repository sits on the same disk as SeaweedFS's data.
    static func benchmarkS3Snapshot(_ options: Options, dir: String, report: inout Report) throws {
        let server = try BenchS3Server(for: "S3")
        let (endpoint, bucket, dataDirectory) = (server.endpoint, server.bucket, server.dataDirectory)
        let project = dir + "/s3-project"
        try FileManager.default.createDirectory(atPath: project + "/data", withIntermediateDirectories: true)
        let localRepository = dataDirectory + "/../bench-local-repository"
        defer { try? FileManager.default.removeItem(atPath: localRepository) }
        try bigSQLiteConfig(repository: localRepository, endpoint: endpoint).write(toFile: project + "/local.toml", atomically: true, encoding: .utf8)
        try bigSQLiteConfig(repository: "s3://\(bucket)/bench-\(getpid())", endpoint: endpoint)
            .write(toFile: project + "/s3.toml", atomically: true, encoding: .utf8)
        let local = ["COFFER_CONFIG": project + "/local.toml"]
        let s3 = ["COFFER_CONFIG": project + "/s3.toml"].merging(server.credentials) { $1 }
        try check(measureChild(options.coffer, ["keys", "init"], environment: local).status, "coffer keys init")
        let database = project + "/data/big.db"
        try makeSQLiteDatabase(database, megabytes: options.s3MB)
        let sizeMB = Double((try FileManager.default.attributesOfItem(atPath: database)[.size] as? Int) ?? 0) / 1_000_000

        var localTimes: [Double] = [], s3Times: [Double] = [], peak = 0
        for _ in 0..<options.s3Runs {
            let toLocal = try measureChild(options.coffer, ["snapshot"], environment: local)
            try check(toLocal.status, "coffer snapshot to a local folder")
            let toS3 = try measureChild(options.coffer, ["snapshot"], environment: s3)
            try check(toS3.status, "coffer snapshot to S3")
            localTimes.append(toLocal.seconds)
            s3Times.append(toS3.seconds)
            peak = max(peak, toS3.maxRSSKiB)
        }
        try check(measureChild(options.coffer, ["verify", "latest", "--deep"], environment: s3).status, "coffer verify --deep on S3")
        // Restores alternate too: from the local folder, then from S3, of the same database.
        var restoreLocal: [Double] = [], restoreS3: [Double] = [], restorePeak = 0
        for _ in 0..<options.s3Runs {
            let fromLocal = try measureChild(options.coffer, ["restore", "latest", "--yes"], environment: local)
            try check(fromLocal.status, "coffer restore from a local folder")
            let fromS3 = try measureChild(options.coffer, ["restore", "latest", "--yes"], environment: s3)
            try check(fromS3.status, "coffer restore from S3")
            restoreLocal.append(fromLocal.seconds)
            restoreS3.append(fromS3.seconds)
            restorePeak = max(restorePeak, fromS3.maxRSSKiB)
        }
        let restoreRatio = median(restoreS3) / median(restoreLocal)

        let ratio = median(s3Times) / median(localTimes)
        print("")
        print(String(format: "snapshot of a %.0f MB SQLite database, local folder vs SeaweedFS on loopback (median of %d, alternating)", sizeMB, options.s3Runs))
        print(String(format: "  to a local folder  %6.2f s  %7.1f MB/s", median(localTimes), sizeMB / median(localTimes)))
        print(String(format: "  to S3 (SeaweedFS)  %6.2f s  %7.1f MB/s  peak RSS %6.1f MiB  (%.2fx local)", median(s3Times), sizeMB / median(s3Times), Double(peak) / 1024, ratio))
        print(String(format: "  restore from a local folder  %6.2f s  %7.1f MB/s", median(restoreLocal), sizeMB / median(restoreLocal)))
        print(String(format: "  restore from S3 (SeaweedFS)  %6.2f s  %7.1f MB/s  peak RSS %6.1f MiB  (%.2fx local)",
            median(restoreS3), sizeMB / median(restoreS3), Double(restorePeak) / 1024, restoreRatio))
        report.add("S3 snapshot time / local snapshot time", value: ratio, unit: "x", target: "<= 1.15x", passed: ratio <= 1.15)
        report.add("S3 restore time / local restore time", value: restoreRatio, unit: "x", target: "<= 1.15x", passed: restoreRatio <= 1.15)
        report.add("S3 snapshot peak RSS", value: Double(peak) / 1024, unit: "MiB", target: "<= 96 MiB", passed: peak <= 96 * 1024)
        report.add("S3 restore peak RSS", value: Double(restorePeak) / 1024, unit: "MiB", target: "<= 96 MiB", passed: restorePeak <= 96 * 1024)
    }

    /// The config of the S3 benchmarks: the SQLite database data/big.db into `repository`, S3 at `endpoint`.
    static func bigSQLiteConfig(repository: String, endpoint: String) -> String {
        """
        environment = "development"
        repository = "\(repository)"
        keys = "keys"

        [[sqlite]]
        name = "big"
        path = "data/big.db"

        [s3]
        endpoint = "\(endpoint)"
        """
    }
}
