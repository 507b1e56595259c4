import Foundation
import Testing

/// The SeaweedFS server `make test` starts, as COFFER_TEST_S3_* variables.
struct S3Server {
    let endpoint, bucket, accessKey, secretKey, aws, proxyScript: String

    static func require() throws -> S3Server {
        let env = ProcessInfo.processInfo.environment
        func value(_ name: String) throws -> String {
            try #require(env[name], "\(name) is not set: the S3 tests need the SeaweedFS server that `make test` starts")
        }
        return S3Server(
            endpoint: try value("COFFER_TEST_S3_ENDPOINT"), bucket: try value("COFFER_TEST_S3_BUCKET"),
            accessKey: try value("COFFER_TEST_S3_ACCESS_KEY"), secretKey: try value("COFFER_TEST_S3_SECRET_KEY"),
            aws: try value("COFFER_TEST_AWS"), proxyScript: try value("COFFER_TEST_S3_PROXY"))
    }

    /// What the coffer and aws processes need in their environment.
    var credentials: [String: String] { s3Credentials(accessKey: accessKey, secretKey: secretKey) }
}

/// A workspace whose repository is a fresh prefix of the test bucket, holding a SQLite database and a dotenv file.
func withS3Project(endpoint: String? = nil, rows: Int = 3, _ body: (Workspace, S3Server, String) throws -> Void) throws {
    let server = try S3Server.require()
    try Workspace.with { ws in
        let prefix = "cli-" + UUID().uuidString.lowercased()
        try ws.makeSQLiteEnvProject(repository: "s3://\(server.bucket)/\(prefix)", s3Endpoint: endpoint ?? server.endpoint, sql: randomRowsSQL(rows))
        try body(ws, server, prefix)
    }
}

private func count(_ ws: Workspace) throws -> String {
    try ws.run("sqlite3", ["data/app.db", "SELECT count(*) FROM t"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Tests/Support/fault_proxy.py between coffer and SeaweedFS: faults on cue, and a log of every request with its byte counts.
final class CLIFaultProxy {
    let process = Process()
    let folder = NSTemporaryDirectory() + "coffer-proxy-" + UUID().uuidString
    private(set) var endpoint = ""

    init(server: S3Server) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", server.proxyScript, "--upstream", server.endpoint.replacingOccurrences(of: "http://", with: ""),
            "--control", folder + "/control.json", "--port-file", folder + "/port", "--log", folder + "/log",
        ]
        try process.run()
        for _ in 0..<200 where endpoint.isEmpty {
            let port = ((try? String(contentsOfFile: folder + "/port", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            if !port.isEmpty { endpoint = "http://127.0.0.1:\(port)" } else { usleep(50_000) }
        }
        try #require(!endpoint.isEmpty, "the fault proxy did not start")
    }

    func control(_ json: String) throws { try json.write(toFile: folder + "/control.json", atomically: true, encoding: .utf8) }

    /// The request log so far, left as it is.
    var log: String { (try? String(contentsOfFile: folder + "/log", encoding: .utf8)) ?? "" }

    /// The request log since the last call, emptied.
    func takeLog() throws -> [String] {
        let text = (try? String(contentsOfFile: folder + "/log", encoding: .utf8)) ?? ""
        try "".write(toFile: folder + "/log", atomically: false, encoding: .utf8)
        return text.split(separator: "\n").map(String.init)
    }

    deinit {
        // SIGKILL: a child spawned from a worker thread may have SIGTERM blocked.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: folder)
    }
}

/// Body bytes the proxy log counted in `direction` (`up` or `down`).
private func wireBytes(_ log: [String], _ direction: String) -> Int {
    log.reduce(0) { total, line in
        total + line.split(separator: " ").compactMap { field -> Int? in field.hasPrefix(direction + "=") ? Int(field.split(separator: "=")[1]) : nil }.reduce(0, +)
    }
}

@Suite("coffer on an S3 repository (real SeaweedFS)", .serialized)
struct S3CommandTests {
    @Test("snapshot, list, verify --deep and restore; the bundle is plain objects that aws, minisign, age and sqlite3 open")
    func endToEnd() throws {
        try withS3Project { ws, server, prefix in
            try ws.pinFormatOne()
            let env = server.credentials
            let snapshot = try ws.coffer("snapshot", environment: env)
            #expect(snapshot.status == 0, "\(snapshot.stderr)")
            let id = try #require(snapshot.stdout.split(separator: "\n").last.map(String.init))
            #expect(try ws.coffer("list", environment: env).stdout.contains(id))
            let verify = try ws.coffer("verify", "latest", "--deep", environment: env)
            #expect(verify.status == 0, "\(verify.stderr)")

            let folder = "s3://\(server.bucket)/\(prefix)/bundles/development/\(id)"
            let fetched = try ws.run(server.aws, ["--endpoint-url", server.endpoint, "s3", "cp", "--recursive", folder, "fetched"], environment: env)
            #expect(fetched.status == 0, "\(fetched.stderr)")
            #expect(try ws.run("minisign", ["-Vm", "fetched/manifest.json", "-p", "keys/signing.pub"]).status == 0)
            let byHand = try ws.run("sh", ["-c", "cat fetched/artifacts/app*.age-header fetched/artifacts/app*.age-payload | age -d -i keys/development.age | gunzip > by-hand.db && sqlite3 by-hand.db 'SELECT count(*) FROM t'"])
            #expect(byHand.stdout == "3\n", "\(byHand.stderr)")

            #expect(try ws.run("sqlite3", ["data/app.db", "DELETE FROM t"]).status == 0)
            let restored = try ws.coffer("restore", "latest", "--yes", environment: env)
            #expect(restored.status == 0, "\(restored.stderr)")
            #expect(try count(ws) == "3")

            let journal = try ws.coffer("journal", environment: env)
            #expect(journal.status == 0, "\(journal.stdout)")
            #expect(journal.stdout.contains("snapshot") && journal.stdout.contains("restore"))

            let status = try ws.coffer("status", "--json", environment: env)
            #expect(status.status == 0, "\(status.stdout)")
            #expect(status.stdout.contains("\"writable\" : true"))
        }
    }

    @Test("copy to S3 and back, skipping what is there; export from S3")
    func copy() throws {
        try withS3Project { ws, server, prefix in
            let env = server.credentials
            let local = ws.path("local.toml")
            try String(contentsOfFile: ws.config, encoding: .utf8).replacingOccurrences(of: "s3://\(server.bucket)/\(prefix)", with: "backups")
                .write(toFile: local, atomically: true, encoding: .utf8)
            #expect(try ws.run(cofferBinary, ["--config", local, "snapshot"]).status == 0)
            #expect(try ws.run(cofferBinary, ["--config", local, "snapshot"]).status == 0)
            let up = try ws.run(cofferBinary, ["--config", local, "copy", "--all", "--to", "s3://\(server.bucket)/\(prefix)"], environment: env)
            #expect(up.status == 0, "\(up.stderr)")
            #expect(up.stdout.components(separatedBy: "copied ").count == 3)
            let again = try ws.run(cofferBinary, ["--config", local, "copy", "--all", "--to", "s3://\(server.bucket)/\(prefix)"], environment: env)
            #expect(again.stdout.components(separatedBy: "present ").count == 3)
            #expect(try ws.coffer("verify", "latest", "--deep", environment: env).status == 0)

            let down = try ws.coffer("copy", "latest", "--to", ws.path("mirror"), environment: env)
            #expect(down.status == 0, "\(down.stderr)")
            #expect(try ws.coffer("export", "latest", "--output", ws.path("one.tar"), environment: env).status == 0)
            #expect(try ws.run("tar", ["tf", "one.tar"]).stdout.contains("manifest.json"))
        }
    }

    @Test("wrong or missing credentials and a missing bucket: exit 3 and a message that names what to fix, never the secret")
    func refusals() throws {
        try withS3Project { ws, server, _ in
            var wrong = server.credentials
            wrong["AWS_SECRET_ACCESS_KEY"] = "wrong-secret-777"
            let denied = try ws.coffer("snapshot", environment: wrong)
            #expect(denied.status == 3)
            #expect(denied.stderr.contains("rejected the credentials") && denied.stderr.contains("AWS_SECRET_ACCESS_KEY"))
            #expect(!denied.stderr.contains("wrong-secret-777"))

            let none = try ws.coffer("list", environment: ["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""])
            #expect(none.status == 3)
            #expect(none.stderr.contains("no S3 credentials"))

            let config = try String(contentsOfFile: ws.config, encoding: .utf8)
            try config.replacingOccurrences(of: "s3://\(server.bucket)/", with: "s3://no-such-bucket-x/").write(toFile: ws.config, atomically: true, encoding: .utf8)
            let missing = try ws.coffer("snapshot", environment: server.credentials)
            #expect(missing.status == 3)
            #expect(missing.stderr.contains("bucket no-such-bucket-x does not exist"))
        }
    }

    @Test("a bundle without a manifest, or with an unsigned one, is left out of list and named by status")
    func incompleteBundles() throws {
        try withS3Project { ws, server, prefix in
            let env = server.credentials
            #expect(try ws.coffer("snapshot", environment: env).status == 0)
            let good = try #require(try ws.coffer("snapshot", environment: env).stdout.split(separator: "\n").last.map(String.init))
            let base = "s3://\(server.bucket)/\(prefix)/bundles/development"
            // An unpublished bundle: an artifact and no manifest.
            try ws.write("junk", [1, 2, 3])
            #expect(try ws.run(server.aws, ["--endpoint-url", server.endpoint, "s3", "cp", "junk", "\(base)/20261128T000000Z-00000001/artifacts/x"], environment: env).status == 0)
            // An unsigned bundle: a copy of a manifest without its signature, under a newer... older id.
            #expect(try ws.run(server.aws, ["--endpoint-url", server.endpoint, "s3", "cp", "\(base)/\(good)/manifest.json", "\(base)/20261128T000000Z-00000002/manifest.json"], environment: env).status == 0)

            let list = try ws.coffer("list", "--json", environment: env)
            #expect(list.status == 0)
            let ids = (try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])?.compactMap { $0["id"] as? String }
            #expect(ids?.count == 2 && ids?.last == good)
            #expect(list.stderr.contains("2 bundle(s) left out"))

            let status = try ws.coffer("status", environment: env)
            #expect(status.status == 1, "\(status.stdout)")
            #expect(status.stdout.contains("20261128T000000Z-00000001 has no manifest"))
            #expect(status.stdout.contains("20261128T000000Z-00000002 is not trusted"))
        }
    }

    @Test("after prune, the deleted bundles' empty folders (SeaweedFS keeps them) are not bundles: status and audit stay clean")
    func statusAndAuditAfterPrune() throws {
        try withS3Project { ws, server, prefix in
            let env = server.credentials
            let now = Date()
            func at(_ days: Double) -> [String: String] {
                env.merging(["COFFER_NOW": ISO8601DateFormatter().string(from: now.addingTimeInterval(days * 86_400))]) { $1 }
            }
            var ids: [String] = []
            for days in [-20.0, -10, 0] {
                let snapshot = try ws.coffer("snapshot", environment: at(days))
                #expect(snapshot.status == 0, "\(snapshot.stderr)")
                ids.append(try #require(snapshot.stdout.split(separator: "\n").last.map(String.init)))
            }
            let prune = try ws.coffer("prune", environment: at(0))
            #expect(prune.status == 0, "\(prune.stderr)")
            let base = "s3://\(server.bucket)/\(prefix)/bundles/development/"
            let objects = try ws.run(server.aws, ["--endpoint-url", server.endpoint, "s3", "ls", "--recursive", base], environment: env).stdout
            #expect(!objects.contains(ids[0]) && !objects.contains(ids[1]) && objects.contains(ids[2]), "\(objects)")

            let status = try ws.coffer("status", environment: at(0))
            #expect(status.status == 0, "\(status.stdout)")
            #expect(status.stdout.contains("bundles: 1, newest \(ids[2])"), "\(status.stdout)")
            let audit = try ws.coffer("audit", environment: at(0))
            #expect(audit.status == 0, "\(audit.stdout)")
            let list = try ws.coffer("list", environment: at(0))
            #expect(list.status == 0 && list.stderr.isEmpty, "\(list.stderr)")
            // An interrupted upload (objects, no manifest) is still named.
            try ws.write("junk", [1, 2, 3])
            #expect(try ws.run(server.aws, ["--endpoint-url", server.endpoint, "s3", "cp", "junk", "\(base)\(ids[1])/artifacts/x"], environment: env).status == 0)
            let unpublished = try ws.coffer("status", environment: at(0))
            #expect(unpublished.status == 1 && unpublished.stdout.contains("bundle \(ids[1]) has no manifest"), "\(unpublished.stdout)")
        }
    }

    @Test("the server goes away mid-upload: the snapshot fails with no visible bundle, the next one succeeds, prune clears the leftovers")
    func serverGoneMidUpload() throws {
        let server = try S3Server.require()
        let proxy = try CLIFaultProxy(server: server)
        func setProxy(_ json: String) throws { try proxy.control(json) }

        // About 20 MB of random rows: three parts of 8 MiB.
        try withS3Project(endpoint: proxy.endpoint, rows: 20_000) { ws, server, prefix in
            try ws.pinFormatOne()
            let env = server.credentials
            // The lease (a listing, its create, a listing), descriptor read and write, two listings for leftovers, one for ids,
            // one for the new bundle, start of the upload, part 1: then gone.
            try setProxy("{\"down_after_requests\": 11}")
            let failed = try ws.coffer("snapshot", environment: env)
            #expect(failed.status == 1, "\(failed.stderr)")
            #expect(failed.stderr.contains("is the S3 server up?"))
            try setProxy("{}")
            func uploads() throws -> String {
                try ws.run(
                    server.aws, ["--endpoint-url", server.endpoint, "s3api", "list-multipart-uploads", "--bucket", server.bucket, "--prefix", prefix],
                    environment: env
                ).stdout
            }
            // The server went away between parts: the upload could not even be aborted.
            #expect(try uploads().contains("UploadId"), "the fault did not hit mid-upload")
            let listed = try ws.coffer("list", "--json", environment: env).stdout
            #expect((try JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [Any])?.isEmpty == true, "\(listed)")

            let retried = try ws.coffer("snapshot", environment: env)
            #expect(retried.status == 0, "\(retried.stderr)")
            #expect(try ws.coffer("verify", "latest", "--deep", environment: env).status == 0)

            let later = ["COFFER_NOW": "2099-01-01T00:00:00Z"].merging(env) { $1 }
            let prune = try ws.coffer("prune", "--json", environment: later)
            #expect(prune.status == 0, "\(prune.stderr)")
            #expect(try !uploads().contains("UploadId"))
            let objects = try ws.run(server.aws, ["--endpoint-url", server.endpoint, "s3", "ls", "--recursive", "s3://\(server.bucket)/\(prefix)/"], environment: env)
            #expect(objects.stdout.split(separator: "\n").filter { $0.contains("/bundles/") }.allSatisfy { $0.contains(try! #require(retried.stdout.split(separator: "\n").last)) })
        }
    }

    @Test("key rotation on S3 reads and writes headers and manifests only: counted on the wire")
    func rotationOnTheWire() throws {
        let server = try S3Server.require()
        let proxy = try CLIFaultProxy(server: server)
        try withS3Project(endpoint: proxy.endpoint, rows: 3_000) { ws, server, _ in
            let env = server.credentials
            for _ in 0..<2 { #expect(try ws.coffer("snapshot", environment: env).status == 0) }
            _ = try proxy.takeLog()
            let rotate = try ws.coffer("keys", "rotate", environment: env)
            #expect(rotate.status == 0, "\(rotate.stderr)")
            let log = try proxy.takeLog()
            #expect(!log.isEmpty)
            #expect(log.filter { $0.contains("-payload") }.isEmpty, "a payload object was touched: \(log.filter { $0.contains("-payload") })")
            let bytes = wireBytes(log, "up") + wireBytes(log, "down")
            #expect(bytes > 0 && bytes < 2 * (1 << 20), "\(bytes) bytes crossed the wire for 2 bundles")
            #expect(try ws.coffer("verify", "latest", "--deep", environment: env).status == 0)
            #expect(try ws.coffer("audit", environment: env).status == 0)
        }
    }

    @Test("restore and verify --deep read each payload object once (the digest is checked while decrypting): counted on the wire")
    func oneReadPerObject() throws {
        let server = try S3Server.require()
        let proxy = try CLIFaultProxy(server: server)
        try withS3Project(endpoint: proxy.endpoint, rows: 20_000) { ws, server, _ in
            let env = server.credentials
            _ = try proxy.takeLog()
            #expect(try ws.coffer("snapshot", environment: env).status == 0)
            func payloadBytes(_ log: [String], _ direction: String) -> Int { wireBytes(log.filter { $0.contains("-payload") }, direction) }
            let snapshotLog = try proxy.takeLog()
            let uploaded = payloadBytes(snapshotLog.filter { $0.hasPrefix("PUT ") }, "up")  // the parts, not the list that completes them
            #expect(uploaded > 100_000)
            #expect(try ws.run("sqlite3", ["data/app.db", "DELETE FROM t"]).status == 0)
            let restored = try ws.coffer("restore", "latest", "--yes", environment: env)
            #expect(restored.status == 0, "\(restored.stderr)")
            let restoreLog = try proxy.takeLog()
            #expect(payloadBytes(restoreLog, "down") == uploaded, "restore must download each payload once: \(uploaded) bytes up, \(restoreLog)")
            let verified = try ws.coffer("verify", "latest", "--deep", environment: env)
            #expect(verified.status == 0, "\(verified.stderr)")
            let verifyLog = try proxy.takeLog()
            #expect(payloadBytes(verifyLog, "down") == uploaded, "verify --deep must download each payload once: \(uploaded) bytes up, \(verifyLog)")
        }
    }
}
