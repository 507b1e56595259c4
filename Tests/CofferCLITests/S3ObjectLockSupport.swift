import Foundation
import Testing

/// awscli against the test server, for what Coffer itself never does: making
/// buckets, setting policies, and trying the deletes an attacker would try.
struct AWSCLI {
    let server: S3Server
    let workspace: Workspace

    func run(_ arguments: String...) throws -> CommandResult {
        try workspace.run(server.aws, ["--endpoint-url", server.endpoint] + arguments, environment: server.credentials)
    }

    /// The JSON answer of a successful call.
    func json(_ arguments: String...) throws -> [String: Any] {
        let result = try workspace.run(server.aws, ["--endpoint-url", server.endpoint] + arguments, environment: server.credentials)
        try #require(result.status == 0, "aws \(arguments.joined(separator: " ")): \(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    /// A new bucket: with Object Lock (and so versioning), versioned, or plain.
    func makeBucket(lock: Bool = false, versioned: Bool = false) throws -> String {
        let name = "coffer-" + UUID().uuidString.lowercased().prefix(13)
        let made = lock
            ? try run("s3api", "create-bucket", "--bucket", name, "--object-lock-enabled-for-bucket")
            : try run("s3api", "create-bucket", "--bucket", name)
        try #require(made.status == 0, "create-bucket: \(made.stderr)")
        if versioned {
            let on = try run("s3api", "put-bucket-versioning", "--bucket", name, "--versioning-configuration", "Status=Enabled")
            try #require(on.status == 0, "put-bucket-versioning: \(on.stderr)")
        }
        return name
    }

    /// A bucket policy that refuses every delete: credentials that may write but not delete.
    func denyDeletes(_ bucket: String) throws {
        let policy = """
            {"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":["s3:DeleteObject","s3:DeleteObjectVersion"],"Resource":["arn:aws:s3:::\(bucket)/*"]}]}
            """
        let set = try run("s3api", "put-bucket-policy", "--bucket", bucket, "--policy", policy)
        try #require(set.status == 0, "put-bucket-policy: \(set.stderr)")
    }

    /// Every version and delete marker under `prefix`: (key, version id, is a delete marker).
    func versions(_ bucket: String, prefix: String) throws -> [(key: String, id: String, marker: Bool)] {
        let answer = try json("s3api", "list-object-versions", "--bucket", bucket, "--prefix", prefix)
        func entries(_ field: String, marker: Bool) -> [(key: String, id: String, marker: Bool)] {
            ((answer[field] as? [[String: Any]]) ?? []).compactMap { entry in
                guard let key = entry["Key"] as? String, let id = entry["VersionId"] as? String else { return nil }
                return (key, id, marker)
            }
        }
        return entries("Versions", marker: false) + entries("DeleteMarkers", marker: true)
    }

    /// Object Lock mode and retain-until of an object (nil, nil when it has none).
    func lock(_ bucket: String, _ key: String) throws -> (mode: String?, until: Date?) {
        let head = try json("s3api", "head-object", "--bucket", bucket, "--key", key)
        let until = (head["ObjectLockRetainUntilDate"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) }
        return (head["ObjectLockMode"] as? String, until)
    }
}

/// A project (SQLite and env vars) whose repository is `s3://BUCKET/repo` on
/// the test server, with retention of one day so that prune has work after a
/// clock moved by `COFFER_NOW`. `s3Extra` goes into `[s3]`.
func withBucketProject(_ bucket: (AWSCLI) throws -> String, s3Extra: String = "", _ body: (Workspace, AWSCLI, String) throws -> Void) throws {
    let server = try S3Server.require()
    try Workspace.with { ws in
        let aws = AWSCLI(server: server, workspace: ws)
        let name = try bucket(aws)
        try """
            environment = "development"
            repository = "s3://\(name)/repo"
            keys = "keys"

            [retention]
            days = 1
            keep_last = 1

            [[sqlite]]
            name = "app"
            path = "app.db"

            [env]
            include = ["JWT_SECRET_KEY"]
            file = "app.env"

            [s3]
            endpoint = "\(server.endpoint)"
            \(s3Extra)
            """.write(toFile: ws.config, atomically: true, encoding: .utf8)
        #expect(try ws.run("sqlite3", ["app.db", "CREATE TABLE t(x); INSERT INTO t VALUES (1),(2),(3);"]).status == 0)
        try "JWT_SECRET_KEY=\"s3cr3t-value\"\n".write(toFile: ws.path("app.env"), atomically: true, encoding: .utf8)
        try body(ws, aws, name)
    }
}

/// `COFFER_NOW` so many days from now, with the test server's credentials.
func later(_ server: S3Server, days: Double) -> [String: String] {
    server.credentials.merging(["COFFER_NOW": ISO8601DateFormatter().string(from: Date().addingTimeInterval(days * 86_400))]) { $1 }
}

/// Runs a snapshot that must succeed; returns the bundle id.
func snapshotID(_ ws: Workspace, _ server: S3Server) throws -> String {
    let snapshot = try ws.coffer("snapshot", environment: server.credentials)
    try #require(snapshot.status == 0, "snapshot: \(snapshot.stderr)")
    return try #require(snapshot.stdout.split(separator: "\n").last.map(String.init))
}

/// The bundles of `coffer prune --json` by id.
func pruneDecisions(_ result: CommandResult) throws -> [String: [String: Any]] {
    let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "prune: \(result.stdout) \(result.stderr)")
    var byID: [String: [String: Any]] = [:]
    for bundle in (object["bundles"] as? [[String: Any]]) ?? [] { if let id = bundle["id"] as? String { byID[id] = bundle } }
    return byID
}
