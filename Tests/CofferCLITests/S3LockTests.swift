import Foundation
import Testing

/// A workspace whose repository is a fresh prefix of the test bucket, with one SQLite database.
private func withS3LockProject(endpoint: String? = nil, _ body: (Workspace, S3Server, String) throws -> Void) throws {
    let server = try S3Server.require()
    try Workspace.withSQLiteApp { ws in
        let prefix = "lock-" + UUID().uuidString.lowercased()
        try ws.appendConfig("")
        var text = try String(contentsOfFile: ws.config, encoding: .utf8)
        text = text.replacingOccurrences(of: "repository = \"backups\"", with: "repository = \"s3://\(server.bucket)/\(prefix)\"")
        text += "\n[s3]\nendpoint = \"\(endpoint ?? server.endpoint)\"\n"
        try text.write(toFile: ws.config, atomically: true, encoding: .utf8)
        try body(ws, server, prefix)
    }
}

/// The lease objects under `locks/development/`, by name, parsed (one aws call).
private func leases(_ ws: Workspace, _ server: S3Server, _ prefix: String) throws -> [String: [String: Any]] {
    let folder = ws.path(".leases-" + UUID().uuidString)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    _ = try ws.run(
        server.aws, ["--endpoint-url", server.endpoint, "s3", "cp", "--recursive", "--quiet", "s3://\(server.bucket)/\(prefix)/locks/development/", folder],
        environment: server.credentials)
    var result: [String: [String: Any]] = [:]
    for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.hasSuffix(".lease") {
        let data = (try? Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))) ?? Data()
        result[name] = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }
    return result
}

/// Writes a lease object as another host's run would have left it.
private func plantLease(_ ws: Workspace, _ server: S3Server, _ prefix: String, expiresIn seconds: Double, host: String) throws {
    let now = Date()
    let formatter = ISO8601DateFormatter()
    let body = """
        {"acquired_at":"\(formatter.string(from: now.addingTimeInterval(-600)))","command":"snapshot","expires_at":"\(formatter.string(from: now.addingTimeInterval(seconds)))","generation":1,"host":"\(host)","pid":4242,"token":"planted"}
        """
    try body.write(toFile: ws.path("planted.lease"), atomically: true, encoding: .utf8)
    let put = try ws.run(
        server.aws, ["--endpoint-url", server.endpoint, "s3", "cp", ws.path("planted.lease"), "s3://\(server.bucket)/\(prefix)/locks/development/0000000001.lease"],
        environment: server.credentials)
    try #require(put.status == 0, "\(put.stderr)")
}

private func held(_ leases: [String: [String: Any]]) -> Bool {
    guard let top = leases.keys.max() else { return false }
    return leases[top]?["released_at"] == nil
}

private func bundleCount(_ ws: Workspace, _ env: [String: String]) throws -> Int {
    try ws.coffer("list", environment: env).stdout.split(separator: "\n").filter { $0.hasPrefix("20") }.count
}

@Suite("repository lock on S3: leases (real SeaweedFS)", .serialized)
struct S3LockTests {
    @Test("a second snapshot exits 7 naming the holder; with --wait it runs after; the lease is released after the run")
    func concurrentSnapshots() throws {
        try withS3LockProject { ws, server, prefix in
            let env = server.credentials
            let first = try BackgroundRun(ws, ["snapshot"], environment: env.merging(["COFFER_FAULT": "snapshot-pause-10"]) { $1 })
            #expect(try eventually { held(try leases(ws, server, prefix)) }, "the first snapshot never took the lease")
            let second = try ws.coffer("snapshot", environment: env)
            #expect(second.status == 7, "\(second.stderr)")
            #expect(second.stderr.contains("development is busy: a snapshot on") && second.stderr.contains("(pid \(first.pid))"), "\(second.stderr)")
            #expect(second.stderr.contains("locks/development/0000000001.lease"), "\(second.stderr)")
            let waiting = try ws.coffer("snapshot", "--wait", "60s", environment: env)
            #expect(waiting.status == 0, "\(waiting.stderr)")
            #expect(waiting.stderr.contains("waiting up to"), "\(waiting.stderr)")
            #expect(first.finish().status == 0)
            #expect(try bundleCount(ws, env) == 2)

            let after = try leases(ws, server, prefix)
            #expect(after.count == 1, "older generations are removed: \(after.keys.sorted())")
            #expect(after["0000000002.lease"]?["released_at"] != nil, "\(after)")
            #expect(!held(after))
            #expect(try ws.coffer("prune", environment: env).status == 0, "a released lease is taken at once")
        }
    }

    @Test("a live lease of another host is not taken over; an expired one is, and the message names it and how long ago it expired")
    func liveAndStaleLeases() throws {
        try withS3LockProject { ws, server, prefix in
            let env = server.credentials
            try plantLease(ws, server, prefix, expiresIn: 3600, host: "other-host")
            let refused = try ws.coffer("snapshot", environment: env)
            #expect(refused.status == 7, "\(refused.stderr)")
            #expect(refused.stderr.contains("a snapshot on other-host (pid 4242) since") && refused.stderr.contains("runs until"), "\(refused.stderr)")
            #expect(try leases(ws, server, prefix)["0000000001.lease"]?["token"] as? String == "planted")
            #expect(try bundleCount(ws, env) == 0)

            try plantLease(ws, server, prefix, expiresIn: -90, host: "dead-host")
            let taken = try ws.coffer("snapshot", environment: env)
            #expect(taken.status == 0, "\(taken.stderr)")
            #expect(taken.stderr.contains("taking over the repository lock of a snapshot on dead-host (pid 4242)"), "\(taken.stderr)")
            #expect(taken.stderr.contains("expired 1m 3") && taken.stderr.contains("ago"), "\(taken.stderr)")
            let after = try leases(ws, server, prefix)
            #expect(after.keys.sorted() == ["0000000002.lease"] && !held(after), "\(after)")
        }
    }

    @Test("renewal keeps the lease of a run that outlasts its expiry")
    func renewal() throws {
        try withS3LockProject { ws, server, prefix in
            let env = server.credentials.merging(["COFFER_LEASE_SECONDS": "3"]) { $1 }
            let long = try BackgroundRun(ws, ["snapshot"], environment: env.merging(["COFFER_FAULT": "snapshot-pause-12"]) { $1 })
            #expect(try eventually { held(try leases(ws, server, prefix)) })
            usleep(5_000_000)  // past the first expiry: only renewal keeps it
            let other = try ws.coffer("snapshot", environment: env)
            #expect(other.status == 7 && !other.stderr.contains("taking over"), "\(other.stderr)")
            let done = long.finish()
            #expect(done.status == 0 && !done.stderr.contains("lost"), "\(done.stderr)")
            #expect(try bundleCount(ws, env) == 1)
            #expect(!held(try leases(ws, server, prefix)))
        }
    }

    @Test("a run killed with SIGKILL on this machine: its process is gone, so its lease is taken over at once, naming it")
    func killedRunHere() throws {
        try withS3LockProject { ws, server, prefix in
            let env = server.credentials
            let victim = try BackgroundRun(ws, ["snapshot"], environment: env.merging(["COFFER_FAULT": "snapshot-pause-60"]) { $1 })
            #expect(try eventually { held(try leases(ws, server, prefix)) })
            victim.kill9()
            _ = victim.finish()
            let next = try ws.coffer("snapshot", environment: env)
            #expect(next.status == 0, "\(next.stderr)")
            #expect(next.stderr.contains("(pid \(victim.pid))") && next.stderr.contains("that process is gone"), "\(next.stderr)")
            #expect(try bundleCount(ws, env) == 1)
        }
    }

    @Test("a run killed with SIGKILL elsewhere (its own pid namespace, as on another host): refused until its lease expires, then taken over")
    func killedRunElsewhere() throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"), "unshare (util-linux) is needed")
        try withS3LockProject { ws, server, prefix in
            let env = server.credentials.merging(["COFFER_LEASE_SECONDS": "3"]) { $1 }
            let probe = try ws.run("/usr/bin/unshare", ["--pid", "--fork", "--kill-child", "/bin/true"])
            try #require(probe.status == 0, "unshare --pid needs root (CAP_SYS_ADMIN): \(probe.stderr)")
            let victim = try BackgroundRun(
                ws, ["snapshot"], environment: env.merging(["COFFER_FAULT": "snapshot-pause-60"]) { $1 },
                wrapper: ["/usr/bin/unshare", "--pid", "--fork", "--kill-child"])
            #expect(try eventually { held(try leases(ws, server, prefix)) })
            victim.kill9()
            _ = victim.finish()
            let early = try ws.coffer("snapshot", environment: env)
            #expect(early.status == 7 && early.stderr.contains("(pid 1)"), "pid 1 in its namespace: \(early.stderr)")
            usleep(3_500_000)
            let later = try ws.coffer("snapshot", environment: env)
            #expect(later.status == 0, "\(later.stderr)")
            #expect(later.stderr.contains("taking over the repository lock of a snapshot on") && later.stderr.contains("expired"), "\(later.stderr)")
            #expect(try bundleCount(ws, env) == 1)
        }
    }

    @Test("two runs taking over the same expired lease at once: exactly one wins")
    func racingTakers() throws {
        try withS3LockProject { ws, server, prefix in
            let env = server.credentials.merging(["COFFER_FAULT": "snapshot-pause-3"]) { $1 }
            try plantLease(ws, server, prefix, expiresIn: -60, host: "dead-host")
            let runs = try (0..<2).map { _ in try BackgroundRun(ws, ["snapshot"], environment: env) }
            let results = runs.map { $0.finish() }
            #expect(results.map(\.status).sorted() == [0, 7], "\(results.map(\.stderr))")
            #expect(results.filter { $0.stderr.contains("taking over") }.count == 1, "\(results.map(\.stderr))")
            #expect(try bundleCount(ws, server.credentials) == 1)
        }
    }

    @Test("the answer to the lease's create is lost: the server is asked, and the lease is recognised as this run's")
    func lostCreateAnswer() throws {
        let server = try S3Server.require()
        let proxy = try CLIFaultProxy(server: server)
        try withS3LockProject(endpoint: proxy.endpoint) { ws, server, prefix in
            try proxy.control(#"{"lose_response": ".lease"}"#)
            let result = try ws.coffer("snapshot", environment: server.credentials)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(proxy.log.split(separator: "\n").contains { $0.hasPrefix("PUT") && $0.contains(".lease") && $0.contains("lost on the way back") }, "\(proxy.log)")
            #expect(!held(try leases(ws, server, prefix)))
            #expect(try bundleCount(ws, server.credentials) == 1)
        }
    }
}
