import Foundation

extension Bench {
    /// `coffer keys rotate` (headers only) against `coffer keys rotate
    /// --reencrypt` (every payload) on a repository of ten bundles of a
    /// 500 MB database of incompressible data: the first must take at most 2%
    /// of the time of the second and move under 1 MB a bundle.
    static func benchmarkRotation(_ options: Options, dir: String, report: inout Report) throws {
        let project = dir + "/rotation"
        try FileManager.default.createDirectory(atPath: project + "/data", withIntermediateDirectories: true)
        try """
            environment = "development"
            repository = "backups"
            keys = "keys"

            [format]
            chunked = false  # rotation of format 1 bundles: one header per artifact

            [[sqlite]]
            name = "big"
            path = "data/big.db"
            """.write(toFile: project + "/coffer.toml", atomically: true, encoding: .utf8)
        let environment = ["COFFER_CONFIG": project + "/coffer.toml"]
        try check(measureChild(options.coffer, ["keys", "init"], environment: environment).status, "coffer keys init")
        let rows = options.rotationMB * 1_000_000 / 4096
        try check(
            run("sqlite3", [project + "/data/big.db", "CREATE TABLE blobs(b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(rows)) INSERT INTO blobs SELECT randomblob(4000) FROM n;"]),
            "creating the database")
        for _ in 0..<options.rotationBundles {
            try check(measureChild(options.coffer, ["snapshot"], environment: environment).status, "coffer snapshot")
        }
        let output = project + "/rotate.json"
        let rotate = try measureChild("sh", ["-c", "'\(options.coffer)' keys rotate --json > '\(output)'"], environment: environment)
        try check(rotate.status, "coffer keys rotate")
        let moved = (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output))) as? [String: Any])?["bytes_moved"] as? Int ?? -1
        let reencrypt = try measureChild(options.coffer, ["keys", "rotate", "--reencrypt"], environment: environment)
        try check(reencrypt.status, "coffer keys rotate --reencrypt")
        try check(measureChild(options.coffer, ["verify", "latest", "--deep"], environment: environment).status, "coffer verify --deep")

        let ratio = rotate.seconds / reencrypt.seconds
        let perBundle = Double(moved) / Double(options.rotationBundles)
        print("")
        print("key rotation of \(options.rotationBundles) bundles of a \(options.rotationMB) MB database (incompressible)")
        print(String(format: "  keys rotate              %7.3f s  %8.0f bytes moved a bundle", rotate.seconds, perBundle))
        print(String(format: "  keys rotate --reencrypt  %7.3f s  peak RSS %6.1f MiB", reencrypt.seconds, Double(reencrypt.maxRSSKiB) / 1024))
        report.add("rotation time / re-encryption time", value: ratio * 100, unit: "%", target: "<= 2%", passed: ratio <= 0.02)
        report.add("bytes moved per bundle by rotation", value: perBundle / 1024, unit: "KiB", target: "< 1024 KiB", passed: moved >= 0 && perBundle < Double(1 << 20))
    }
}
