import Foundation
import Testing

/// The SeaweedFS cluster that `make test` starts (scripts/s3-cluster.sh): a master with default replication 001,
/// three volume servers, a filer and the S3 gateway, each its own process, described by COFFER_TEST_CLUSTER_*
/// variables. It is apart from the single `weed mini` of the other S3 tests, so losing a part of it touches no one else.
struct S3Cluster {
    let endpoint, bucket, accessKey, secretKey, master, filer, script, aws, proxyScript: String
    /// The volume servers as the master names them (`127.0.0.1:PORT`); volume server N is `volumes[N - 1]`.
    let volumes: [String]

    static func require() throws -> S3Cluster {
        let env = ProcessInfo.processInfo.environment
        func value(_ name: String) throws -> String {
            try #require(env[name], "\(name) is not set: the cluster tests need the SeaweedFS cluster that `make test` starts (scripts/s3-cluster.sh)")
        }
        return S3Cluster(
            endpoint: try value("COFFER_TEST_CLUSTER_ENDPOINT"), bucket: try value("COFFER_TEST_CLUSTER_BUCKET"),
            accessKey: try value("COFFER_TEST_CLUSTER_ACCESS_KEY"), secretKey: try value("COFFER_TEST_CLUSTER_SECRET_KEY"),
            master: try value("COFFER_TEST_CLUSTER_MASTER"), filer: try value("COFFER_TEST_CLUSTER_FILER"),
            script: try value("COFFER_TEST_CLUSTER_SCRIPT"), aws: try value("COFFER_TEST_CLUSTER_AWS"),
            proxyScript: try value("COFFER_TEST_CLUSTER_PROXY"),
            volumes: try value("COFFER_TEST_CLUSTER_VOLUMES").split(separator: " ").map(String.init))
    }

    /// What the coffer and aws processes need in their environment.
    var credentials: [String: String] { s3Credentials(accessKey: accessKey, secretKey: secretKey) }

    /// The gateway as one S3 server, for a CLIFaultProxy in front of it.
    var gateway: S3Server {
        S3Server(endpoint: endpoint, bucket: bucket, accessKey: accessKey, secretKey: secretKey, aws: aws, proxyScript: proxyScript)
    }

    /// Helper processes (the script, curl, aws) run from the temporary folder: they need no workspace.
    private var tools: Workspace { Workspace(root: NSTemporaryDirectory()) }

    /// `scripts/s3-cluster.sh ARGS`: `kill-volume 2`, `start-volume 2`, `restart-gateway`, `repair`.
    func control(_ arguments: String...) throws {
        let result = try tools.run(script, arguments)
        try #require(result.status == 0, "s3-cluster.sh \(arguments.joined(separator: " ")) failed: \(result.stderr)")
    }

    /// Every volume server and the gateway running again: called when a test ends, however it ends.
    func repair() {
        do { try control("repair") } catch { Issue.record("the cluster could not be repaired: \(error)") }
    }

    /// The volume server number (1-3) of an address the master gave.
    func number(of address: String) -> Int? { volumes.firstIndex(of: address).map { $0 + 1 } }

    private func json(_ url: String) throws -> [String: Any] {
        let result = try tools.run("curl", ["-fsS", "-H", "Accept: application/json", url])
        try #require(result.status == 0, "GET \(url): \(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "GET \(url): \(result.stdout)")
    }

    /// The volume servers the master says hold a copy of volume `id`.
    func locations(ofVolume id: Int) throws -> [String] {
        let answer = try json("\(master)/dir/lookup?volumeId=\(id)")
        return ((answer["locations"] as? [[String: Any]]) ?? []).compactMap { $0["url"] as? String }
    }

    /// The volumes that hold the chunks (needles) of the objects directly under `folder` of the bucket, per object
    /// name, as the filer records them.
    func chunkVolumes(under folder: String) throws -> [String: Set<Int>] {
        let listing = try json("\(filer)/buckets/\(bucket)/\(folder)/?limit=1000")
        var volumes: [String: Set<Int>] = [:]
        for entry in (listing["Entries"] as? [[String: Any]]) ?? [] {
            guard let path = entry["FullPath"] as? String, let chunks = entry["chunks"] as? [[String: Any]] else { continue }
            let ids = chunks.compactMap { ($0["file_id"] as? String)?.split(separator: ",").first.flatMap { Int($0) } }
            volumes[String(path.split(separator: "/").last ?? ""), default: []].formUnion(ids)
        }
        return volumes
    }

    /// The keys of every object under `prefix` of the bucket, through the S3 API.
    func objectKeys(under prefix: String) throws -> [String] {
        let result = try tools.run(
            aws, ["--endpoint-url", endpoint, "s3api", "list-objects-v2", "--bucket", bucket, "--prefix", prefix, "--output", "json"],
            environment: credentials)
        try #require(result.status == 0, "list-objects-v2: \(result.stderr)")
        let text = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return [] }
        let listing = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        return ((listing["Contents"] as? [[String: Any]]) ?? []).compactMap { $0["Key"] as? String }
    }

    /// Multipart uploads still open under `prefix` (a failed snapshot aborts its own).
    func openUploads(under prefix: String) throws -> String {
        let result = try tools.run(
            aws, ["--endpoint-url", endpoint, "s3api", "list-multipart-uploads", "--bucket", bucket, "--prefix", prefix], environment: credentials)
        try #require(result.status == 0, "list-multipart-uploads: \(result.stderr)")
        return result.stdout
    }
}

/// A workspace whose repository is a fresh prefix of the cluster's bucket, holding a SQLite database of `rows` random
/// kilobyte rows and a dotenv file; reached at `endpoint` (a fault proxy) or the gateway. Whatever the body does,
/// every volume server and the gateway are running again afterwards.
func withClusterProject(endpoint: String? = nil, rows: Int, _ body: (Workspace, S3Cluster, String) throws -> Void) throws {
    let cluster = try S3Cluster.require()
    defer { cluster.repair() }
    try Workspace.with { ws in
        let prefix = "cluster-" + UUID().uuidString.lowercased()
        try ws.makeSQLiteEnvProject(repository: "s3://\(cluster.bucket)/\(prefix)", s3Endpoint: endpoint ?? cluster.endpoint, sql: randomRowsSQL(rows))
        try body(ws, cluster, prefix)
    }
}

/// A coffer command in the background, so a test can break the cluster while it runs; killed if never waited for.
final class RunningCoffer {
    private let process = Process()
    private let scratch: String

    init(_ ws: Workspace, _ arguments: [String], environment: [String: String]) throws {
        scratch = ws.root + "/.run-" + UUID().uuidString
        process.executableURL = URL(fileURLWithPath: cofferBinary)
        process.arguments = ["--config", ws.config] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: ws.root)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        _ = FileManager.default.createFile(atPath: scratch + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: scratch + ".err", contents: nil)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: scratch + ".out")
        process.standardError = FileHandle(forWritingAtPath: scratch + ".err")
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    func wait() -> CommandResult {
        process.waitUntilExit()
        let out = (try? String(contentsOfFile: scratch + ".out", encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: scratch + ".err", encoding: .utf8)) ?? ""
        return CommandResult(status: process.terminationStatus, stdout: out, stderr: err)
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        for suffix in [".out", ".err"] { try? FileManager.default.removeItem(atPath: scratch + suffix) }
    }
}

extension CLIFaultProxy {
    /// Waits until the proxy holds the request its `hold_after_bytes` rule caught (fault_proxy.py), or `command` ended
    /// without one being caught (false), or `seconds` passed (false).
    func waitForHold(while command: RunningCoffer, seconds: Double = 300) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline && command.isRunning {
            if ((try? String(contentsOfFile: folder + "/control.json", encoding: .utf8)) ?? "").contains("\"held\"") { return true }
            usleep(20_000)
        }
        return false
    }
}

/// The bundle ids `coffer list` shows.
func listedBundles(_ ws: Workspace, _ cluster: S3Cluster) throws -> [String] {
    let list = try ws.coffer("list", "--json", environment: cluster.credentials)
    try #require(list.status == 0, "coffer list: \(list.stderr)")
    return ((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
}

/// SHA-256 of the database's SQL dump: equal contents, equal digests.
func databaseDigest(_ ws: Workspace) throws -> String {
    let dump = try ws.run("sh", ["-c", "sqlite3 data/app.db .dump | sha256sum"])
    try #require(dump.status == 0, "\(dump.stderr)")
    return dump.stdout
}

/// `coffer verify BUNDLE --deep`, expected to pass; the failure shows its report.
func expectVerifies(
    _ ws: Workspace, _ cluster: S3Cluster, _ bundle: String = "latest", _ context: String = "", sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let verify = try ws.coffer("verify", bundle, "--deep", environment: cluster.credentials)
    #expect(verify.status == 0, "\(context)\(verify.stdout)\(verify.stderr)", sourceLocation: sourceLocation)
}
